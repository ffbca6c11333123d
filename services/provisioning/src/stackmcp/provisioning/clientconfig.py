"""How to connect clients to a freshly minted MCP server URL, offering only what works for it.

Computed once, next to the URL, from the URL, the server's name and whether it requires an API
token (the second factor); the CLI (``servers create``, ``stackmcp up``) and the web console
show the same guidance:

- Claude's custom connector (claude.ai, and Claude Desktop's connectors): only for an https URL
  on a public host, because Claude calls it from Anthropic's cloud. A server with the second
  factor signs in there: Claude opens the gateway's OAuth page, which asks for an API token.
- Claude Code, ``claude mcp add --transport http NAME URL``: with the second factor Claude Code
  signs in (OAuth) on first use, or sends the token as ``x-api-key``.
- Claude Desktop through the ``mcp-remote`` bridge: with the second factor the token goes in
  ``x-api-key`` from the ``STACKMCP_API_TOKEN`` environment variable (expanded by ``mcp-remote``,
  so it stays off the command line).
- Any other MCP client on the plain URL (Streamable HTTP, and legacy HTTP+SSE on the same URL).

A URL on loopback or a private network gets a note saying who can reach it.

The answer keeps the fields earlier clients read (``connector_url``, ``claude_code``,
``claude_desktop``) and adds ``guidance`` (the ordered ways in, each a title and blocks of text
or code), ``notes``, ``client_name``, ``reach``, ``custom_connector`` and, with the second
factor, ``claude_code_header``. ``connector_url`` stays the URL a client takes; whether the
custom connector can use it is ``custom_connector``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = ["client_config", "client_name", "guidance_lines", "reach"]

Reach = Literal["public", "private", "loopback"]

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_PREFIX = "better-stack"
# The name already says it is Better Stack's ("Better Stack on-call", "betterstack-prod").
_OWN_PREFIX = re.compile(r"^(?:better-?stack)(?:-|$)")
# Names no public DNS answers for (RFC 6761, RFC 8375, common internal zones).
_PRIVATE_SUFFIXES = (
    ".localhost",
    ".local",
    ".internal",
    ".lan",
    ".home.arpa",
    ".localdomain",
    ".intranet",
    ".corp",
    ".test",
    ".example",
    ".invalid",
)
# The only http hosts mcp-remote accepts without --allow-http.
_MCP_REMOTE_HTTP_HOSTS = ("localhost", "127.0.0.1")

API_TOKEN = "<API token>"  # noqa: S105 - the placeholder a person fills in
TOKEN_ENV = "STACKMCP_API_TOKEN"  # noqa: S105 - a variable name
BASE_URL_SETTING = "STACKMCP_PROVISIONING_MCP_BASE_URL"


def client_name(server_name: str) -> str:
    """The name the server is registered under in a client, e.g. ``better-stack-oncall``.

    A name that already starts with "Better Stack" is not prefixed twice.
    """
    slug = _NOT_SLUG.sub("-", server_name.lower()).strip("-")
    slug = _OWN_PREFIX.sub("", slug).strip("-")[:40].strip("-")
    return f"{_PREFIX}-{slug}" if slug else _PREFIX


def reach(url: str) -> Reach:
    """Who can reach ``url``'s host: only this machine, a private network, or anyone.

    Judged from the name alone (no DNS): loopback and non-global addresses, ``localhost``,
    single-label names and internal-only zones are not public.
    """
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            return "loopback"
        if not host or "." not in host or host.endswith(_PRIVATE_SUFFIXES):
            return "private"
        return "public"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    return "public" if ip.is_global else "private"


def client_config(url: str, server_name: str, *, require_api_token: bool) -> dict[str, Any]:
    """The ways into ``url`` that work for this server, as data and as ready-to-show guidance.

    With ``require_api_token`` the snippets leave ``<API token>`` for the person to fill in;
    the Desktop entry reads it from ``STACKMCP_API_TOKEN`` so the command line never holds it.
    """
    name = client_name(server_name)
    parts = urlsplit(url)
    where = reach(url)
    https = parts.scheme == "https"
    connector = https and where == "public"

    add = ["claude", "mcp", "add", "--transport", "http", name, url]
    code = shlex.join(add)
    header_code = shlex.join([*add, "--header", f"x-api-key: {API_TOKEN}"])
    args = ["-y", "mcp-remote", url]
    if parts.scheme == "http" and (parts.hostname or "") not in _MCP_REMOTE_HTTP_HOSTS:
        args.append("--allow-http")
    entry: dict[str, Any] = {"command": "npx", "args": args}
    if require_api_token:
        args += ["--header", f"x-api-key:${{{TOKEN_ENV}}}"]
        entry["env"] = {TOKEN_ENV: API_TOKEN}
    desktop = {"mcpServers": {name: entry}}

    guidance = [
        *([_connector_way(require_api_token)] if connector else []),
        _claude_code_way(code, header_code if require_api_token else None),
        _desktop_way(desktop, require_api_token),
        _other_way(require_api_token),
    ]

    config: dict[str, Any] = {
        "connector_url": url,
        "claude_code": code,
        "claude_desktop": desktop,
        "client_name": name,
        "require_api_token": require_api_token,
        "reach": where,
        "custom_connector": connector,
        "notes": _notes(parts.hostname or "", where, https=https),
        "guidance": guidance,
    }
    if require_api_token:
        config["claude_code_header"] = header_code
    return config


def guidance_lines(config: Mapping[str, Any], indent: str = "") -> list[str]:
    """``config``'s notes and ways as plain text lines, the way the CLI prints them."""
    lines = [f"{indent}Note: {note}" for note in config.get("notes") or []]
    if lines:
        lines.append("")
    ways = config.get("guidance")
    if ways is None:
        ways = _legacy_ways(config)
    for way in ways:
        lines.append(f"{indent}{way.get('title')}:")
        for block in way.get("blocks") or []:
            if "code" in block:
                lines += [f"{indent}    {line}" for line in str(block["code"]).splitlines()]
            else:
                lines.append(f"{indent}  {block.get('text', '')}")
        lines.append("")
    return lines


def _legacy_ways(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The snippets of an answer from before ``guidance`` existed."""
    ways = []
    if config.get("claude_code"):
        ways.append(_way("claude-code", "Claude Code", [_code(config["claude_code"], "shell")]))
    if config.get("claude_desktop"):
        desktop = json.dumps(config["claude_desktop"], indent=2, ensure_ascii=False)
        ways.append(
            _way(
                "claude-desktop",
                "Claude Desktop (claude_desktop_config.json)",
                [_code(desktop, "json")],
            )
        )
    return ways


def _notes(host: str, where: Reach, *, https: bool) -> list[str]:
    not_offered = (
        "Claude's custom connector is not offered: Claude calls it from Anthropic's cloud, so it "
        "needs a public https URL (publish the gateway at one and set "
        f"{BASE_URL_SETTING})."
    )
    if where == "loopback":
        return [
            "This URL is only reachable from this machine: clients running here can use it, "
            f"clients elsewhere cannot. {not_offered}"
        ]
    if where == "private":
        return [
            f"This URL is on a private network: only clients that can reach {host} can use it. "
            f"{not_offered}"
        ]
    if not https:
        return [
            "This URL is plain http: the URL, which is the server's credential, crosses the "
            f"network unencrypted. {not_offered}"
        ]
    return []


def _connector_way(require_api_token: bool) -> dict[str, Any]:
    steps = [
        _text("In Claude, open Settings → Connectors → Add custom connector, and paste the URL.")
    ]
    if require_api_token:
        steps.append(
            _text(
                "Claude then asks you to connect: sign in on the page it opens with an API token "
                "(this server's second factor)."
            )
        )
    return _way("custom-connector", "Claude custom connector (claude.ai or Claude Desktop)", steps)


def _claude_code_way(code: str, header_code: str | None) -> dict[str, Any]:
    steps = [_code(code, "shell")]
    if header_code is not None:
        steps += [
            _text(
                "On first use Claude Code asks you to sign in (or run /mcp and choose "
                "Authenticate): a browser page asks for an API token."
            ),
            _text(
                "Or send an API token in a header instead (Claude Code then keeps it in its "
                "configuration):"
            ),
            _code(header_code, "shell"),
        ]
    return _way("claude-code", "Claude Code", steps)


def _desktop_way(desktop: dict[str, Any], require_api_token: bool) -> dict[str, Any]:
    steps = [
        _text(
            "Add this to claude_desktop_config.json (Settings → Developer → Edit Config) and "
            "restart Claude Desktop; it runs the mcp-remote bridge with npx (Node.js)."
        ),
        _code(json.dumps(desktop, indent=2, ensure_ascii=False), "json"),
    ]
    if require_api_token:
        steps.append(
            _text(
                f"Replace {API_TOKEN} with an API token: mcp-remote reads it from {TOKEN_ENV}, "
                "so it is not on its command line."
            )
        )
    return _way("claude-desktop", "Claude Desktop through the mcp-remote bridge", steps)


def _other_way(require_api_token: bool) -> dict[str, Any]:
    text = (
        "Give it the URL (Streamable HTTP; clients of the older HTTP+SSE transport use the same "
        "URL)."
    )
    if require_api_token:
        text += (
            " Send an API token in the x-api-key header (or as Authorization: Bearer <token>), "
            "or sign in where the client supports MCP OAuth."
        )
    return _way("other-clients", "Other MCP clients", [_text(text)])


def _way(way_id: str, title: str, blocks: list[dict[str, str]]) -> dict[str, Any]:
    return {"id": way_id, "title": title, "blocks": blocks}


def _text(text: str) -> dict[str, str]:
    return {"text": text}


def _code(code: str, language: str) -> dict[str, str]:
    return {"code": code, "language": language}
