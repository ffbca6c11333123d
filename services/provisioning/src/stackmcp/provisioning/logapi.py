"""``GET /log``: the audit trail over the admin API, newest first or following new records.

Query parameters (each at most once; any other is refused, so a misspelt filter never silently
widens the answer): ``account_id``, ``server_id``, ``kind`` (``call``/``admin``), ``tool``,
``outcome``, ``client_name``, ``operator``, ``since``, ``until`` (RFC 3339 with a zone),
``limit`` (1-500, default 50), and either ``cursor`` (the ``next_cursor`` of the previous page:
older records) or ``after`` (follow mode: the records from that ``next_cursor`` on, oldest
first; an empty ``after=`` starts from now). Every problem is a 400 naming the parameter and
saying what to send. The records are answered as they are stored, never re-encoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from stackmcp.contracts.audit import OUTCOMES, AuditEntry
from stackmcp.provisioning.auditlog import AuditLog, LogFilter, LogPage, decode_cursor
from stackmcp.provisioning.ids import ACCOUNT_ID_RE, SERVER_ID_RE
from stackmcp.runtime.errors import InvalidArgument, Unavailable

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "LogView", "log_query_parameters", "log_route"]

AnyRequest = Request[Any, Any, Any]
Guard = Callable[..., Any]

DEFAULT_LIMIT = 50
"""Records per answer when ``limit`` is not given."""
MAX_LIMIT = 500
"""Most records one answer may hold."""

_MAX_TEXT = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TIME_HINT = "an RFC 3339 time with a zone, e.g. 2026-12-01T09:00:00Z"
_CURSOR_HINT = "the next_cursor of an earlier answer, unchanged"
_FILTERS = ("account_id", "server_id", "kind", "tool", "outcome", "client_name", "operator")
_KNOWN = (*_FILTERS, "since", "until", "cursor", "after", "limit")


class LogView(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of ``GET /log`` (described for OpenAPI; the items are passed through)."""

    items: list[AuditEntry]
    """Tool-call and admin-change records as stored: newest first, or oldest first with
    ``after``."""
    next_cursor: str | None
    """Pass back as ``cursor`` for older records (``null``: no more), or as ``after`` for
    newer ones in follow mode."""


def log_query_parameters() -> list[dict[str, Any]]:
    """The OpenAPI description of the query parameters."""

    def param(name: str, description: str, **schema: Any) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": {"type": "string", **schema},
        }

    return [
        param("account_id", "Only this account's records (acc_…)"),
        param("server_id", "Only this MCP server's records (srv_…)"),
        param("kind", "call: tool calls; admin: admin changes", enum=["call", "admin"]),
        param("tool", "Only calls of this tool"),
        param("outcome", "Only calls with this outcome", enum=list(OUTCOMES)),
        param("client_name", "Only calls from this MCP client (clientInfo.name)"),
        param("operator", "Only admin changes by this operator"),
        param("since", "Records at or after this time (RFC 3339)", format="date-time"),
        param("until", "Records before this time (RFC 3339)", format="date-time"),
        param("cursor", "Older records: the next_cursor of the previous page"),
        param("after", "Follow mode: records from this next_cursor on, oldest first ('' = now)"),
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": f"Records per answer (1-{MAX_LIMIT})",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                       "default": DEFAULT_LIMIT},
        },
    ]  # fmt: skip


async def read_log(request: AnyRequest) -> Response[bytes]:
    """The audit trail, filtered: newest first, or with ``after`` the records since then."""
    query = _single_values(request)
    filters = _filters(query)
    limit = _limit(query.get("limit"))
    log: AuditLog | None = getattr(request.app.state, "audit_log", None)
    if log is None:
        raise Unavailable("the audit trail is not available on this replica")
    if "after" in query:
        if "cursor" in query:
            raise InvalidArgument("give cursor (older records) or after (follow), not both")
        after = _cursor("after", query["after"]) if query["after"] else None
        page = await log.after(filters, after, limit=limit)
    else:
        cursor = _cursor("cursor", query["cursor"]) if "cursor" in query else None
        page = await log.page(filters, cursor=cursor, limit=limit)
    return _answer(page)


def log_route(guard: Guard) -> HTTPRouteHandler:
    """The ``GET /log`` handler behind ``guard`` (the admin API's admin guard)."""
    return get("/log", guards=[guard])(read_log)


def _answer(page: LogPage) -> Response[bytes]:
    return Response(content=msgspec.json.encode(page), media_type="application/json")


def _single_values(request: AnyRequest) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in _KNOWN:
            raise InvalidArgument(f"unknown query parameter {name[:40]!r}; use {', '.join(_KNOWN)}")
        if name in values:
            raise InvalidArgument(f"{name} is given more than once; give it once")
        values[name] = value
    return values


def _filters(query: dict[str, str]) -> LogFilter:
    kind = query.get("kind")
    if kind not in (None, "call", "admin"):
        raise InvalidArgument("kind must be call or admin")
    outcome = query.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidArgument(f"outcome must be one of {', '.join(OUTCOMES)}")
    since, until = _time("since", query.get("since")), _time("until", query.get("until"))
    if since is not None and until is not None and since >= until:
        raise InvalidArgument("since must be before until")
    return LogFilter(
        kind=kind,  # type: ignore[arg-type]  # one of the two, checked above
        account_id=_id("account_id", query.get("account_id"), ACCOUNT_ID_RE, "acc_"),
        server_id=_id("server_id", query.get("server_id"), SERVER_ID_RE, "srv_"),
        tool=_text("tool", query.get("tool"), "a tool name"),
        outcome=outcome,
        client_name=_text("client_name", query.get("client_name"), "an MCP client's name"),
        operator=_text("operator", query.get("operator"), "an admin token's name, or admin"),
        since=since,
        until=until,
    )


def _id(name: str, value: str | None, pattern: re.Pattern[str], prefix: str) -> str | None:
    if value is not None and not pattern.fullmatch(value):
        raise InvalidArgument(f"{name} must be an id like {prefix}0123456789abcdef")
    return value


def _text(name: str, value: str | None, what: str) -> str | None:
    if value is not None and (not value or len(value) > _MAX_TEXT or _CONTROL.search(value)):
        raise InvalidArgument(
            f"{name} must be {what}: 1-{_MAX_TEXT} characters without control characters"
        )
    return value


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be {_TIME_HINT}") from None
    if moment.tzinfo is None:
        raise InvalidArgument(f"{name} needs a time zone: send {_TIME_HINT}")
    return moment


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    digits = value.isascii() and value.isdigit() and len(value) <= len(str(MAX_LIMIT))
    if not digits or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def _cursor(name: str, value: str) -> str:
    try:
        decode_cursor(value)
    except InvalidArgument:
        raise InvalidArgument(f"{name} must be {_CURSOR_HINT}") from None
    return value
