"""What the admin API and the console share at the HTTP edge: reading bodies, logging refusals.

Every request body is read within ``STACKMCP_PROVISIONING_BODY_TIMEOUT`` seconds of the handler
asking for it, so a client trickling a byte a second is answered 408 instead of holding a
connection for ever. The JSON API takes ``application/json`` (or ``application/*+json``, or no
``Content-Type`` at all) in UTF-8 and decodes it with :func:`~stackmcp.provisioning.bodies.
decode_body`; console forms must be ``application/x-www-form-urlencoded`` UTF-8. Anything else is
415. Each refusal is logged once at INFO with the route and the reason, never the body; each
answer "the state store is down" (503) is logged once at WARNING with the route.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.exceptions import HTTPException
from redis.exceptions import RedisError

from stackmcp.provisioning.bodies import decode_body
from stackmcp.runtime.errors import InvalidArgument, StackmcpError, Unavailable

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "MAX_FORM_FIELDS",
    "RETRY_AFTER",
    "form_body",
    "http_error_headers",
    "json_body",
    "log_unavailable",
    "retry_after",
    "route_of",
    "store_unavailable",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
AnyRequest = Request[Any, Any, Any]

DEFAULT_BODY_TIMEOUT = 10.0
"""Seconds a request body may take to arrive when the app state does not say otherwise."""
MAX_FORM_FIELDS = 200
"""Most fields a console form may post (the largest form has a few dozen checkboxes)."""
RETRY_AFTER = 5
"""Seconds a 503 asks the client to wait (``Retry-After``) when the error names no time."""

_FORM = "application/x-www-form-urlencoded"
_BODY_LEFT_UNREAD = frozenset({408, 413, 415})
_UTF8 = frozenset({"utf-8", "utf8"})


async def json_body(request: AnyRequest, type_: type[T]) -> T:
    """The request's JSON body decoded into ``type_``.

    Raises:
        HTTPException: 415 for another media type or charset, 408 when the body does not
            arrive in time, 413 when it is too large.
        InvalidArgument: the body is not acceptable JSON, or a field is wrong (see
            :func:`~stackmcp.provisioning.bodies.decode_body`).
    """
    try:
        _check_json_media_type(request)
        return decode_body(await _read(request), type_)
    except (InvalidArgument, HTTPException) as exc:
        _log_refusal(request, exc)
        raise


async def form_body(request: AnyRequest) -> FormMultiDict:
    """The request's form fields (URL-encoded UTF-8, at most :data:`MAX_FORM_FIELDS`).

    Raises:
        HTTPException: 415 for another media type, 408 when the body does not arrive in time,
            413 when it is too large.
        InvalidArgument: the form is not UTF-8 or has too many fields.
    """
    try:
        media_type, options = request.content_type
        if media_type != _FORM or not _utf8(options):
            raise HTTPException(status_code=415, detail=f"a form must be posted as {_FORM}")
        return _parsed_form(await _read(request))
    except (InvalidArgument, HTTPException) as exc:
        _log_refusal(request, exc)
        raise


def route_of(request: AnyRequest) -> str:
    """The route template the request matched (``/api-token/{token_id:str}``), else its path."""
    template = request.scope.get("path_template")
    return str(template) if template else request.url.path


def retry_after(exc: StackmcpError) -> int:
    """Whole seconds to put in ``Retry-After`` for a retryable error."""
    return max(1, math.ceil(exc.retry_after)) if exc.retry_after else RETRY_AFTER


def log_unavailable(request: AnyRequest, exc: Unavailable) -> None:
    """Log, once per request, that a dependency was down and the request answered 503."""
    logger.warning(
        "%s %s answered 503 (retry after %ds): %s",
        request.method,
        route_of(request),
        retry_after(exc),
        exc.message,
    )


def http_error_headers(exc: HTTPException) -> dict[str, str] | None:
    """Headers for one of Litestar's own errors: ``Connection: close`` when the request body
    may be left unread (408, 413, 415), so that no client sends its next request on a
    connection the server drops."""
    headers = dict(exc.headers or {})
    if exc.status_code in _BODY_LEFT_UNREAD:
        headers["Connection"] = "close"
    return headers or None


def store_unavailable(exc: RedisError) -> Unavailable:
    """The error a Redis failure that escaped the store is answered with."""
    return Unavailable(f"the state store is unreachable ({type(exc).__name__}); try again")


def _check_json_media_type(request: AnyRequest) -> None:
    if "content-type" not in request.headers:
        return  # no Content-Type at all: JSON is the only thing this API takes
    media_type, options = request.content_type
    is_json = media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
    if not is_json or not _utf8(options):
        raise HTTPException(
            status_code=415,
            detail="send the body as JSON in UTF-8 with Content-Type: application/json",
        )


def _utf8(options: dict[str, str]) -> bool:
    charset = options.get("charset")
    return charset is None or charset.strip('"').lower() in _UTF8


async def _read(request: AnyRequest) -> bytes:
    seconds = float(getattr(request.app.state, "body_timeout", DEFAULT_BODY_TIMEOUT))
    try:
        async with asyncio.timeout(seconds):
            return await request.body()
    except TimeoutError:
        raise HTTPException(
            status_code=408,
            detail=f"the request body did not arrive within {seconds:g} seconds",
        ) from None


def _parsed_form(body: bytes) -> FormMultiDict:
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise InvalidArgument("the form is not valid UTF-8") from None
    except ValueError:
        raise InvalidArgument(f"the form has more than {MAX_FORM_FIELDS} fields") from None
    return FormMultiDict(pairs)


def _log_refusal(request: AnyRequest, exc: InvalidArgument | HTTPException) -> None:
    if isinstance(exc, HTTPException):
        status, reason = exc.status_code, str(exc.detail)
    else:
        status, reason = (422 if exc.fields else 400), exc.message
    logger.info(
        "%s %s: request body refused with %d: %s", request.method, route_of(request), status, reason
    )
