"""Ready-to-paste client configuration for a freshly minted MCP server URL.

Returned once, next to the URL, so the CLI and the web console show the same three ways in:
Claude's custom connector (the URL itself), Claude Code (``claude mcp add --transport http``)
and Claude Desktop through the ``mcp-remote`` bridge.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

__all__ = ["client_config", "client_name"]

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def client_name(server_name: str) -> str:
    """The name the server is registered under in a client, e.g. ``better-stack-oncall``."""
    slug = _NOT_SLUG.sub("-", server_name.lower()).strip("-")[:40].strip("-")
    return f"better-stack-{slug}" if slug else "better-stack"


def client_config(url: str, server_name: str, *, require_api_token: bool) -> dict[str, Any]:
    """The connector URL, a Claude Code command line and a Claude Desktop entry for ``url``.

    With ``require_api_token`` the Claude Code line sends the API token header and the Desktop
    entry reads it from the ``STACKMCP_API_TOKEN`` environment variable, so no token is written
    into a config file by this snippet.
    """
    name = client_name(server_name)
    code = ["claude", "mcp", "add", "--transport", "http", name, url]
    args = ["-y", "mcp-remote", url]
    entry: dict[str, Any] = {"command": "npx", "args": args}
    if require_api_token:
        code += ["--header", "Authorization: Bearer <API token>"]
        args += ["--header", "Authorization:${STACKMCP_API_TOKEN}"]
        entry["env"] = {"STACKMCP_API_TOKEN": "Bearer <API token>"}
    return {
        "connector_url": url,
        "claude_code": shlex.join(code),
        "claude_desktop": {"mcpServers": {name: entry}},
    }
