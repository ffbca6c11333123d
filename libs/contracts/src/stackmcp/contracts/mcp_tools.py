"""The MCP wire form of a tool (``tools/list`` entries use camelCase member names).

Shared by the gateway (which lists tools) and the CLI (which shows what a filter lists).
"""

from __future__ import annotations

from typing import Any

import msgspec

from stackmcp.contracts.tools import ToolDescriptor

__all__ = ["BYTES_PER_TOKEN", "estimate_tokens", "mcp_tool", "mcp_tools"]

BYTES_PER_TOKEN = 4
"""Rough size of one model token in bytes of compact JSON (the usual rule of thumb)."""


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


def estimate_tokens(tools: tuple[ToolDescriptor, ...]) -> tuple[int, int]:
    """Bytes of the compact ``tools/list`` result JSON and its token estimate (bytes / 4).

    This is what listing the tools costs a model's context on every conversation.
    """
    size = len(msgspec.json.encode({"tools": mcp_tools(tools)}))
    return size, -(-size // BYTES_PER_TOKEN)
