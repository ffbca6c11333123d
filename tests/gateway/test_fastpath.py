"""The direct path for ``POST /mcp/<token>`` answers exactly as the Litestar route does, and
is taken only when nothing about the request needs more.

A request with an ``Origin`` (allowed: local origins are, by default) always goes through
Litestar, so each request is sent twice, with and without one, and the answers compared. The
Litestar app behind the direct path is wrapped to count what reaches it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import msgspec
import pytest

from tests.gateway.test_core import MODERN, TOOL, Harness, harness  # noqa: F401
from tests.support.grants import mint_grant

pytestmark = pytest.mark.integration

ACCEPT_BOTH = "application/json, text/event-stream"
LITESTAR = {"Origin": "http://localhost"}


class Counting:
    """An ASGI app that counts the HTTP requests it passes on."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen = 0

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen += 1
        await self.app(scope, receive, send)


@pytest.fixture
def litestar(harness: Harness) -> Counting:  # noqa: F811 - the fixture imported above
    counting = Counting(harness.app.app)
    harness.app.app = counting
    return counting


def _rpc(method: str, request_id: int | None = 1, **params: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if request_id is not None:
        message["id"] = request_id
    return message


async def _both(
    harness: Harness,  # noqa: F811
    body: bytes,
    headers: dict[str, str],
) -> tuple[httpx.Response, httpx.Response]:
    """The same POST through Litestar (with an Origin) and the direct path (without)."""
    through = await harness.client.post(harness.url, content=body, headers={**headers, **LITESTAR})
    direct = await harness.client.post(harness.url, content=body, headers=headers)
    return through, direct


def _same(through: httpx.Response, direct: httpx.Response) -> None:
    assert direct.status_code == through.status_code, direct.text
    assert direct.headers.get("content-type") == through.headers.get("content-type")
    for name in ("cache-control", "ratelimit-limit", "retry-after", "allow"):
        assert direct.headers.get(name) == through.headers.get(name), name
    assert ("mcp-session-id" in direct.headers) == ("mcp-session-id" in through.headers)
    assert direct.content == through.content


async def _session(harness: Harness) -> str:  # noqa: F811
    answer = await harness.client.post(
        harness.url,
        json=_rpc("initialize", protocolVersion="2025-06-18", capabilities={}),
        headers={"Accept": ACCEPT_BOTH},
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["mcp-session-id"]


async def test_session_requests_answer_the_same_on_both_paths(
    harness: Harness,  # noqa: F811
    litestar: Counting,
) -> None:
    session = await _session(harness)
    headers = {"Accept": ACCEPT_BOTH, "Mcp-Session-Id": session}
    cases = [
        msgspec.json.encode(_rpc("tools/list")),
        msgspec.json.encode(_rpc("tools/call", name=TOOL, arguments={"limit": 5})),
        msgspec.json.encode(_rpc("tools/call", name="no_such_tool", arguments={})),
        msgspec.json.encode(_rpc("ping", request_id=7)),
        msgspec.json.encode(_rpc("notifications/initialized", request_id=None)),
        b'{"jsonrpc": "2.0", "id": 1, "method": ',
        b"[]",
    ]
    for body in cases:
        before = litestar.seen
        through, direct = await _both(harness, body, headers)
        _same(through, direct)
        assert litestar.seen == before + 1, body  # only the request with an Origin
    sse_only = {**headers, "Accept": "text/event-stream"}
    through, direct = await _both(harness, msgspec.json.encode(_rpc("tools/list")), sse_only)
    _same(through, direct)
    assert direct.headers["content-type"].startswith("text/event-stream")


async def test_stateless_requests_answer_the_same_on_both_paths(
    harness: Harness,  # noqa: F811
    litestar: Counting,
) -> None:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = msgspec.json.encode(_rpc("tools/list", _meta=meta))
    headers = {"Accept": ACCEPT_BOTH, "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"}
    await harness.client.post(harness.url, content=body, headers=headers)  # caches the grant
    before = litestar.seen
    through, direct = await _both(harness, body, headers)
    _same(through, direct)
    assert litestar.seen == before + 1
    wrong = {**headers, "Mcp-Method": "tools/call"}  # header and body disagree: a refusal
    through, direct = await _both(harness, body, wrong)
    _same(through, direct)


async def test_what_needs_more_than_the_core_goes_to_litestar(
    harness: Harness,  # noqa: F811
    litestar: Counting,
) -> None:
    session = await _session(harness)
    headers = {"Accept": ACCEPT_BOTH, "Mcp-Session-Id": session}
    ping = msgspec.json.encode(_rpc("ping"))
    client = harness.client

    async def reaches_litestar(url: str, content: Any, **extra: str) -> httpx.Response:
        before = litestar.seen
        answer = await client.post(url, content=content, headers={**headers, **extra})
        assert litestar.seen == before + 1, (url, extra)
        return answer

    # A URL this replica never resolved: Litestar loads it (and refuses an unknown one).
    unknown = await reaches_litestar(f"/mcp/smcp_srv_{'x' * 43}", ping)
    assert unknown.status_code == 404
    token, _ = await mint_grant(harness.redis, harness.keys, account_id="acc_core")
    first = await reaches_litestar(f"/mcp/{token}", ping)
    before_cached = litestar.seen
    assert first.status_code == 404  # the session is another URL's; now the grant is cached
    again = await client.post(f"/mcp/{token}", content=ping, headers=headers)
    assert again.status_code == 404
    assert litestar.seen == before_cached  # the cached grant took the direct path

    # A body without Content-Length (chunked) and one over the limit.
    async def chunks() -> AsyncIterator[bytes]:
        yield ping

    chunked = await reaches_litestar(harness.url, chunks())
    assert chunked.status_code == 200
    large = await reaches_litestar(harness.url, b" " * 100_001 + ping)
    assert large.status_code == 413
    # The cached grant is taken once cached, with the alias too.
    before = litestar.seen
    assert (await client.post(harness.url, content=ping, headers=headers)).status_code == 200
    alias = await client.post(f"{harness.url}/mcp", content=ping, headers=headers)
    assert alias.status_code == 200
    assert litestar.seen == before


async def test_a_server_with_confirmations_streams_through_litestar(
    harness: Harness,  # noqa: F811
    litestar: Counting,
) -> None:
    token, _ = await mint_grant(
        harness.redis, harness.keys, account_id="acc_core", confirm="writes"
    )
    url = f"/mcp/{token}"
    answer = await harness.client.post(
        url,
        json=_rpc("initialize", protocolVersion="2025-06-18", capabilities={}),
        headers={"Accept": ACCEPT_BOTH},
    )
    session = answer.headers["mcp-session-id"]
    before = litestar.seen
    headers = {"Accept": ACCEPT_BOTH, "Mcp-Session-Id": session}
    ping = await harness.client.post(url, json=_rpc("ping"), headers=headers)
    assert ping.status_code == 200
    assert litestar.seen == before + 1  # its answer could have become a stream
    json_only = await harness.client.post(
        url, json=_rpc("ping"), headers={**headers, "Accept": "application/json"}
    )
    assert json_only.status_code == 200
    assert litestar.seen == before + 1  # a client that cannot read a stream is never asked
