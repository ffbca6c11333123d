"""The gate in front of every ``/api`` route: latency, bearer auth, rate limit, 5xx injection.

Every request is first recorded in the request log (``GET /_sandbox/requests``). Order per
request then: the configured latency is awaited first (so every API answer, errors
included, is delayed), then the token is checked (401; anything but a read with a read-only
token is 403), then the token bucket (429), then the error injector (500/502/503).
``RateLimit-*`` headers are added to every authenticated answer when ``rate_limit_headers``
is on. Unknown routes never reach the gate (they are 404 without
auth, as the real API does).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from stackmcp.sandbox.errors import UNAUTHORIZED
from stackmcp.sandbox.knobs import RateDecision
from stackmcp.sandbox.state import RequestRecord, SandboxState

__all__ = ["ApiGate", "bearer_token", "send_json"]

RATE_LIMITED = "Rate limit exceeded. Please retry later."
READ_ONLY = "This API token is read-only and cannot be used for write operations."
READS = frozenset({"GET", "HEAD"})
INJECTED = {
    500: "Internal server error (injected by the sandbox).",
    502: "Bad gateway (injected by the sandbox).",
    503: "Service temporarily unavailable (injected by the sandbox).",
}


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


async def send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer directly with a JSON body."""
    payload = msgspec.json.encode(body)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send(
        {"type": "http.response.start", "status": status, "headers": raw_headers + (headers or [])}
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


def _record(scope: Scope) -> RequestRecord:
    return RequestRecord(
        method=str(scope.get("method", "")),
        path=scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
        traceparent=_header(scope, b"traceparent"),
    )


def _rate_headers(decision: RateDecision) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(decision.limit).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
        (b"ratelimit-reset", str(decision.reset).encode()),
    ]


class ApiGate:
    """ASGI middleware applied to the API router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Apply the knobs, then pass the request on (adding rate-limit headers if asked)."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        state: SandboxState = Litestar.from_scope(scope).state.sandbox
        state.requests.append(_record(scope))
        knobs = state.knobs
        if knobs.latency_ms > 0:
            await asyncio.sleep(knobs.latency_ms / 1000)
        token = bearer_token(scope)
        if token not in state.tokens:
            await send_json(send, 401, {"errors": UNAUTHORIZED})
            return
        if token in state.config.read_only_tokens and scope.get("method") not in READS:
            await send_json(send, 403, {"errors": READ_ONLY})
            return
        decision = state.bucket.take(knobs.rate_limit, knobs.rate_limit_burst)
        extra = _rate_headers(decision) if knobs.rate_limit_headers else []
        if not decision.allowed:
            retry = [(b"retry-after", str(decision.retry_after).encode())]
            await send_json(send, 429, {"errors": RATE_LIMITED}, retry + extra)
            return
        status = state.injector.next_status(knobs.error_rate)
        if status is not None:
            await send_json(send, status, {"errors": INJECTED[status]}, extra)
            return
        if not extra:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
