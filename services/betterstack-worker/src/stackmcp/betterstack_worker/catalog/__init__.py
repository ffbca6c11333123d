"""The MCP tool catalogue compiled from the Better Stack API description.

:func:`default_catalog` compiles :data:`~stackmcp.betterstack_worker.api.OPERATIONS` on first
use and returns the same object afterwards, so no schema is ever generated per call.
"""

from functools import cache

from stackmcp.betterstack_worker.api import OPERATIONS
from stackmcp.betterstack_worker.catalog.compiler import (
    Catalog,
    CatalogError,
    compile_catalog,
    describe,
    version_of,
)
from stackmcp.betterstack_worker.catalog.naming import NAME_RE, tool_name
from stackmcp.contracts.mcp_tools import mcp_tool, mcp_tools

__all__ = [
    "NAME_RE",
    "Catalog",
    "CatalogError",
    "compile_catalog",
    "default_catalog",
    "describe",
    "mcp_tool",
    "mcp_tools",
    "tool_name",
    "version_of",
]


@cache
def default_catalog() -> Catalog:
    """The catalogue of the built-in API description, compiled once per process."""
    return compile_catalog(OPERATIONS)
