"""The URL-once page's "Test URL": ``initialize`` then ``tools/list`` against the gateway, run
from the console's server side.

The URL is not stored anywhere (only its token's hash), so the test can only run while the page
that shows it is open: its form posts the URL back. Only URLs on the configured gateway
(``STACKMCP_MCP_BASE_URL``'s scheme, host and port, path ``/mcp/<token>``) are fetched, so the
console cannot be used to reach any other address (no server-side request forgery).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

__all__ = ["TEST_TIMEOUT", "UrlTest", "on_gateway", "run_url_test"]

TEST_TIMEOUT = 10.0
"""Seconds the whole test may take."""
_PROTOCOL = "2025-06-18"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,200}")


@dataclass(frozen=True)
class UrlTest:
    """What the test found: whether the URL works, how many tools it lists, or what failed."""

    ok: bool
    message: str
    tools: int | None = None


def on_gateway(url: str, gateway: str) -> bool:
    """Whether ``url`` is an MCP URL of the configured ``gateway`` (scheme, host, port, path)."""
    try:
        given, base = urlsplit(url), urlsplit(gateway)
        same = (given.scheme, given.hostname, given.port) == (base.scheme, base.hostname, base.port)
    except ValueError:
        return False
    prefix = f"{base.path.rstrip('/')}/mcp/"
    token = given.path.removeprefix(prefix)
    clean = not (given.query or given.fragment or given.username or given.password)
    return same and clean and given.path.startswith(prefix) and bool(_TOKEN.fullmatch(token))


def _result(response: httpx.Response) -> dict[str, object]:
    """The JSON-RPC result of a reply sent as JSON or as one server-sent event."""
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        text = next((line[5:] for line in text.splitlines() if line.startswith("data:")), "{}")
    body = json.loads(text)
    if not isinstance(body, dict) or "error" in body:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        raise ValueError(str(message or "the gateway answered an error"))
    result = body.get("result")
    return result if isinstance(result, dict) else {}


async def run_url_test(url: str, *, timeout: float = TEST_TIMEOUT) -> UrlTest:
    """Run ``initialize`` + ``tools/list`` on ``url`` (already checked with :func:`on_gateway`)."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": _PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "stackmcp-console-test", "version": "1"},
        },
    }
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            answer = await client.post(url, json=init, headers=headers)
            if answer.status_code in (401, 403, 404):
                return UrlTest(ok=False, message=_refused(answer))
            answer.raise_for_status()
            _result(answer)
            session = answer.headers.get("mcp-session-id")
            more = {**headers, **({"Mcp-Session-Id": session} if session else {})}
            more["MCP-Protocol-Version"] = _PROTOCOL
            note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            await client.post(url, json=note, headers=more)
            listed = await client.post(
                url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=more
            )
            listed.raise_for_status()
            tools = _result(listed).get("tools")
    except httpx.HTTPStatusError as exc:
        return UrlTest(ok=False, message=f"The gateway answered HTTP {exc.response.status_code}.")
    except httpx.HTTPError as exc:
        return UrlTest(
            ok=False, message=f"The gateway could not be reached ({type(exc).__name__})."
        )
    except ValueError as exc:
        return UrlTest(ok=False, message=f"The gateway's answer was not understood: {exc}.")
    count = len(tools) if isinstance(tools, list) else 0
    return UrlTest(ok=True, message=f"The URL works: it listed {count} tools.", tools=count)


def _refused(answer: httpx.Response) -> str:
    if answer.status_code == 401 and answer.headers.get("www-authenticate"):
        return (
            "The gateway asks for an API token as well (this server requires one): the URL "
            "itself was recognised."
        )
    return f"The gateway refused this URL (HTTP {answer.status_code}): it may have been revoked."
