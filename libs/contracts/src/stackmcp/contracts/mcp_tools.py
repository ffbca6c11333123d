"""The MCP wire form of a tool (``tools/list`` entries use camelCase member names).

Shared by the gateway (which lists tools) and the CLI (which shows what a filter lists).
"""

from __future__ import annotations

from typing import Any

import msgspec

from stackmcp.contracts.tools import ToolDescriptor

__all__ = ["mcp_tool", "mcp_tools"]


def mcp_tool(tool: ToolDescriptor) -> dict[str, Any]:
    """One ``tools/list`` entry: name, title, description, input/output schema, annotations."""
    entry: dict[str, Any] = {
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "inputSchema": tool.input_schema,
    }
    if tool.output_schema is not None:
        entry["outputSchema"] = tool.output_schema
    entry["annotations"] = msgspec.to_builtins(tool.annotations)
    return entry


def mcp_tools(tools: tuple[ToolDescriptor, ...]) -> list[dict[str, Any]]:
    """The ``tools`` array of a ``tools/list`` result, in catalogue order."""
    return [mcp_tool(t) for t in tools]
