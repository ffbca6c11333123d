"""Tiny reference MCP server built with the official Python SDK (``mcp==2.3.0``).

Started as a subprocess by ``test_conformance_harness.py`` to prove the conformance harness
works against a known implementation. It has one ``add`` tool and none of the suite's
``test_*`` fixtures, so fixture-dependent scenarios fail by design.

Usage: ``python tests/gateway/reference_server.py --port N`` (serves ``http://127.0.0.1:N/mcp``).
"""

from __future__ import annotations

import argparse

from mcp.server import MCPServer

mcp = MCPServer("conformance-reference", version="0.0.1")


@mcp.tool(title="Add two integers")
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    mcp.run("streamable-http", host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
