"""The gateway's tool catalogue holding the worker's compiled tools, without NATS."""

from __future__ import annotations

import asyncio

import pytest

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import CatalogResponse
from stackmcp.gateway import catalog as gateway_catalog
from stackmcp.gateway.catalog import ToolCatalog

__all__ = ["served_catalog"]


def served_catalog() -> ToolCatalog:
    """A loaded :class:`ToolCatalog` whose catalogue request is answered locally."""
    compiled = default_catalog()

    async def reply(*_: object, **__: object) -> CatalogResponse:
        return compiled.response()

    tools = ToolCatalog(None, Subjects())  # type: ignore[arg-type]  # never used: see reply
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gateway_catalog, "request", reply)
        assert asyncio.run(tools.refresh())
    return tools
