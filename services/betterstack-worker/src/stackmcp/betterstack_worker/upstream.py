"""The HTTP side of the worker: pooled HTTP clients and upstream errors mapped to tool errors.

One client per upstream origin is created lazily and reused for every call (connection
pooling, keep-alive). By default it is an ``aiohttp.ClientSession`` used directly, without a
cookie jar (one origin's session serves every account): about a fifth of the CPU per request
of httpx's own transport (``bench/worker_cpu.py``), and without the httpx layer on top that
the worker used to keep (a fifth of its CPU per call, ``bench/README.md``). ``client: httpx``,
or an injected httpx transport (tests), uses ``httpx.AsyncClient``. Every request also runs
under one overall
deadline, since per-socket-operation timeouts alone let a slowly dribbling answer run long.
Nothing here retries, throttles or backs off: a 429 is handed back at once with the upstream's
own timing signals. Error messages are written for a model to act on and never contain the
credential or a raw upstream body beyond a bounded summary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import aiohttp
import httpx
import msgspec
import yarl
from opentelemetry.trace import SpanKind, Status, StatusCode

from stackmcp.betterstack_worker import metrics
from stackmcp.betterstack_worker.ratelimit import parse_rate_limit
from stackmcp.contracts.tools import RateLimitInfo
from stackmcp.runtime.errors import (
    Conflict,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RateLimited,
    StackmcpError,
    Unauthenticated,
    Unavailable,
    UpstreamError,
)
from stackmcp.runtime.redaction import redact
from stackmcp.runtime.telemetry import inject_headers, tracer

__all__ = [
    "UpstreamClient",
    "UpstreamConfig",
    "UpstreamHttpError",
    "UpstreamResponse",
    "error_for_status",
]

logger = logging.getLogger(__name__)
_tracer = tracer(__name__)
QueryArg = Mapping[str, Any] | Sequence[tuple[str, str]] | None

_SUMMARY_LIMIT = 300
_NO_ROUTE = "_OTHER"
"""The metrics route of a request sent without its template (never the path: it holds ids)."""


class UpstreamConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """HTTP client settings for the Better Stack API (section ``UPSTREAM``)."""

    timeout: float = 15.0
    """Seconds for a whole upstream request (read/write/pool)."""
    connect_timeout: float = 3.0
    """Seconds to establish a connection."""
    max_connections: int = 100
    """Open connections per upstream host."""
    max_keepalive: int = 20
    """Idle connections kept per upstream host (``client: httpx``; aiohttp keeps up to
    ``max_connections``)."""
    client: Literal["aiohttp", "httpx"] = "aiohttp"
    """HTTP engine: ``aiohttp`` (cheaper per call) or ``httpx``."""


class _Answer:
    """What the worker reads of an HTTP answer, whichever engine got it."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        """The body as text (for error summaries of bodies that are not JSON)."""
        return self.content.decode("utf-8", "replace")


class UpstreamResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A successful upstream answer."""

    status: int
    body: Any
    """Decoded JSON, or ``None`` for an empty body (204)."""
    rate_limit: RateLimitInfo | None = None


class UpstreamHttpError(Exception):
    """The upstream answered with an error status.

    Attributes:
        error: the caller-safe error a model can act on (see :func:`error_for_status`).
        status: the upstream HTTP status.
        rate_limit: the rate-limit signals of that answer, if any.
    """

    def __init__(self, error: StackmcpError, status: int, rate_limit: RateLimitInfo | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.status = status
        self.rate_limit = rate_limit


class UpstreamClient:
    """Send requests to upstream origins over reused connection pools."""

    def __init__(
        self, config: UpstreamConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._transport = transport
        self._direct = config.client == "aiohttp" and transport is None
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def _session(self, origin: str) -> aiohttp.ClientSession:
        session = self._sessions.get(origin)
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._config.max_connections),
                timeout=aiohttp.ClientTimeout(
                    total=self._config.timeout, connect=self._config.connect_timeout
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
            self._sessions[origin] = session
        return session

    def _client(self, origin: str) -> httpx.AsyncClient:
        client = self._clients.get(origin)
        if client is None:
            client = httpx.AsyncClient(
                base_url=origin,
                timeout=httpx.Timeout(self._config.timeout, connect=self._config.connect_timeout),
                limits=httpx.Limits(
                    max_connections=self._config.max_connections,
                    max_keepalive_connections=self._config.max_keepalive,
                ),
                transport=self._transport,
                follow_redirects=False,
            )
            self._clients[origin] = client
        return client

    async def send(
        self,
        method: str,
        origin: str,
        path: str,
        *,
        token: str,
        query: QueryArg = None,
        body: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        route: str | None = None,
    ) -> UpstreamResponse:
        """Send one request; return the decoded answer or raise the matching error.

        Args:
            method: HTTP method.
            origin: scheme and host, e.g. ``https://uptime.betterstack.com``.
            path: already-encoded path (built from validated ids only).
            token: the account's API token (sent as ``Authorization: Bearer``).
            query: query parameters (a mapping, or pairs when a name repeats).
            body: JSON body.
            timeout: overall seconds for this call (defaults to the configured timeout).
            route: the path template, e.g. ``/api/v3/incidents/{incident_id}``, naming the
                client span (the concrete path is too varied to name spans by).

        Raises:
            UpstreamHttpError: the upstream answered with a status of 400 or more.
            DeadlineExceeded: no answer within the timeout.
            Unavailable: the upstream could not be reached.
        """
        with _tracer.start_as_current_span(
            f"{method} {route}" if route else method,
            kind=SpanKind.CLIENT,
            attributes=_span_attributes(method, origin, route or path),
        ) as span:
            response = await self._measured(
                method, origin, path, route, token=token, query=query, body=body, timeout=timeout
            )
            span.set_attribute("http.response.status_code", response.status_code)
            rate_limit = parse_rate_limit(response.headers)
            if response.status_code >= 400:
                span.set_status(Status(StatusCode.ERROR, str(response.status_code)))
                error = error_for_status(response.status_code, _decode(response), rate_limit)
                raise UpstreamHttpError(error, response.status_code, rate_limit)
            return UpstreamResponse(
                status=response.status_code, body=_decode(response), rate_limit=rate_limit
            )

    async def _measured(
        self,
        method: str,
        origin: str,
        path: str,
        route: str | None,
        *,
        token: str,
        query: QueryArg,
        body: Mapping[str, Any] | None,
        timeout: float | None,
    ) -> _Answer:
        """:meth:`_request`, recorded as ``stackmcp.upstream.request.duration``."""
        started = time.perf_counter()
        outcome: int | str = "timeout"  # also when cancelled: no answer came in time
        try:
            response = await self._request(
                method, origin, path, token=token, query=query, body=body, timeout=timeout
            )
            outcome = response.status_code
            return response
        except Unavailable:
            outcome = "connect"
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.upstream_request(method, route or _NO_ROUTE, outcome, seconds)

    async def _request(
        self,
        method: str,
        origin: str,
        path: str,
        *,
        token: str,
        query: QueryArg,
        body: Mapping[str, Any] | None,
        timeout: float | None,
    ) -> _Answer:
        headers = inject_headers({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        content = None
        if body is not None:
            content = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        seconds = self._config.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(seconds):
                if self._direct:
                    return await self._aiohttp(
                        method, origin, path, query=query, content=content, headers=headers
                    )
                answer = await self._client(origin).request(
                    method,
                    path,
                    params=cast("list[tuple[str, str | int | float | bool | None]]", _query(query)),
                    content=content,
                    headers=headers,
                    timeout=self._timeout(timeout),
                )
                return _Answer(answer.status_code, answer.headers, answer.content)
        except (TimeoutError, httpx.TransportError, aiohttp.ClientError) as exc:
            if _timed_out(exc):
                raise DeadlineExceeded(
                    "Better Stack did not answer in time; the request may or may not have been "
                    "applied — check the current state before repeating a write"
                ) from None
            logger.warning("upstream unreachable: %s", type(exc.__cause__ or exc).__name__)
            raise Unavailable("Better Stack could not be reached; try again shortly") from None

    async def _aiohttp(
        self,
        method: str,
        origin: str,
        path: str,
        *,
        query: QueryArg,
        content: bytes | None,
        headers: dict[str, str],
    ) -> _Answer:
        url = yarl.URL(origin + path, encoded=True)  # the path is built from validated ids
        async with self._session(origin).request(
            method,
            url,
            params=_query(query),
            data=content,
            headers=headers,
            allow_redirects=False,
        ) as answer:
            return _Answer(answer.status, answer.headers, await answer.read())

    def _timeout(self, seconds: float | None) -> httpx.Timeout | Any:
        if seconds is None:
            return httpx.USE_CLIENT_DEFAULT
        return httpx.Timeout(seconds, connect=min(seconds, self._config.connect_timeout))

    async def aclose(self) -> None:
        """Close every pooled connection."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()


def _timed_out(exc: BaseException) -> bool:
    """Whether a transport failure was a timeout rather than a refused or broken connection.

    aiohttp's connect and read timeouts are ``TimeoutError`` subclasses; a refused or broken
    connection is another ``aiohttp.ClientError``.
    """
    if isinstance(exc, TimeoutError):
        return True
    if isinstance(exc, aiohttp.ClientError):
        return False
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, aiohttp.ServerTimeoutError)
    return isinstance(exc, httpx.TimeoutException)


def _query(query: QueryArg) -> list[tuple[str, str]] | None:
    if not query:
        return None
    pairs = query.items() if isinstance(query, Mapping) else query
    return [(k, _query_value(v)) for k, v in pairs if v is not None]


def _span_attributes(method: str, origin: str, route: str) -> dict[str, Any]:
    parts = urlsplit(origin)
    return {
        "http.request.method": method,
        "server.address": parts.hostname or "",
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        "url.template": route,
    }


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decode(response: _Answer) -> Any:
    if not response.content:
        return None
    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return {"errors": response.text[:_SUMMARY_LIMIT]}


def error_for_status(
    status: int, body: Any, rate_limit: RateLimitInfo | None = None
) -> StackmcpError:
    """Map an upstream error answer to the error a model can act on."""
    detail = _summary(body)
    suffix = f": {detail}" if detail else ""
    fields = _field_errors(body) if status == 422 else None
    retry_after = rate_limit.retry_after if rate_limit else None
    simple: dict[int, StackmcpError] = {
        400: InvalidArgument(f"Better Stack refused the request (400){suffix}"),
        401: Unauthenticated(
            "Better Stack rejected this account's API token (401); the operator must reconnect "
            "the account with a valid token"
        ),
        403: PermissionDenied(
            f"Better Stack does not allow this with the account's API token (403){suffix}"
        ),
        404: NotFound(
            f"Better Stack has no such resource (404){suffix}; look the id up with a list tool"
        ),
        409: Conflict(f"Better Stack refused the change because of the current state{suffix}"),
        422: InvalidArgument(f"Better Stack rejected the arguments{suffix}", fields=fields),
        429: RateLimited(
            "Better Stack rate limit reached; retry after "
            + (f"{retry_after} seconds" if retry_after is not None else "a short wait"),
            retry_after=retry_after,
        ),
    }
    if status in simple:
        return simple[status]
    return UpstreamError(f"Better Stack answered with an error ({status}){suffix}; try again later")


def _summary(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors is None:
        return ""
    text = errors if isinstance(errors, str) else msgspec.json.encode(errors).decode()
    return redact(text)[:_SUMMARY_LIMIT]


def _field_errors(body: Any) -> dict[str, list[str]] | None:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        return None
    return {
        str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in errors.items()
    }
