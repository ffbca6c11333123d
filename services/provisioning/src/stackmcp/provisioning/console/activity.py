"""Activity pages: an account's audit trail and the admin-change history, read from the audit log.

The filters come from a GET form (no CSRF token: reading changes nothing) and travel in the
query string, so a filtered page can be bookmarked and its "older records" link keeps them.
Records are shown newest first, one page at a time (``next_cursor``); a JetStream outage is the
console's "temporarily unavailable" page (503), never an internal error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

import msgspec
from litestar import Response, get

from stackmcp.contracts.audit import OUTCOMES, AdminChange, AuditEntry, ToolCallCompleted
from stackmcp.provisioning.auditlog import AuditLog, LogFilter, LogPage
from stackmcp.provisioning.console.forms import FieldMessages
from stackmcp.provisioning.console.web import AnyRequest, console_state, page, signed_in
from stackmcp.provisioning.views import account_view
from stackmcp.runtime.errors import Unavailable

__all__ = [
    "PAGE_SIZE",
    "ActivityPage",
    "ActivityQuery",
    "ActivityRow",
    "account_activity_page",
    "activity_rows",
    "admin_history_page",
    "audit_log",
    "read_activity",
]

PAGE_SIZE = 50
"""Records per activity page."""

_DECODER = msgspec.json.Decoder(AuditEntry)
_MAX_FILTER_CHARS = 200


class ActivityQuery(msgspec.Struct, frozen=True, kw_only=True):
    """An activity page's filters as the GET form sent them (shown again in the form)."""

    kind: str = ""
    outcome: str = ""
    tool: str = ""
    client: str = ""
    operator: str = ""
    since: str = ""
    """``datetime-local`` text read as UTC, or ISO 8601 with an offset."""
    cursor: str = ""

    def link(self, **changes: str) -> str:
        """The query string of this page with ``changes`` (empty values left out)."""
        values = {**msgspec.structs.asdict(self), **changes}
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def filtered(self) -> bool:
        """Whether any filter is set."""
        return any((self.kind, self.outcome, self.tool, self.client, self.operator, self.since))


class ActivityRow(msgspec.Struct, frozen=True, kw_only=True):
    """One audit record as an activity table shows it."""

    id: str
    time: datetime
    kind: Literal["call", "admin"]
    account_id: str | None
    server_id: str | None
    server_name: str | None
    client: str | None
    """Client name and version (tool calls)."""
    operator: str | None
    """Who made the change (admin changes)."""
    what: str
    """The tool (or MCP method) called, or the admin action."""
    target: str | None
    """Name of what an admin change acted on."""
    outcome: str | None
    error_code: str | None
    duration: str | None
    details: str | None
    """Arguments (calls) or changed fields (admin changes) as indented JSON."""


class ActivityPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of activity, its filters and where the older records are."""

    rows: list[ActivityRow]
    query: ActivityQuery
    errors: FieldMessages
    next_link: str | None
    """Query string of the next (older) page; ``None`` on the last one."""
    outcomes: tuple[str, ...] = OUTCOMES


def audit_log(request: AnyRequest) -> AuditLog:
    """The application's audit log reader (``app.state.audit_log``).

    Raises:
        Unavailable: this replica was started without one.
    """
    log: AuditLog | None = getattr(request.app.state, "audit_log", None)
    if log is None:
        raise Unavailable("the audit trail is not available on this replica")
    return log


def activity_query(params: Mapping[str, Any]) -> ActivityQuery:
    """The filters of a query string (each trimmed and cut to a sane length)."""

    def text(name: str) -> str:
        return str(params.get(name) or "").strip()[:_MAX_FILTER_CHARS]

    return ActivityQuery(
        kind=text("kind"),
        outcome=text("outcome"),
        tool=text("tool"),
        client=text("client"),
        operator=text("operator"),
        since=text("since"),
        cursor=text("cursor"),
    )


def parse_since(text: str) -> datetime | None:
    """``since`` as a UTC time (a time without a zone is read as UTC).

    Raises:
        ValueError: not a date and time.
    """
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def log_filter(query: ActivityQuery, **scope: str | None) -> tuple[LogFilter, FieldMessages]:
    """The audit log filter for ``query`` within ``scope`` (account, server, kind), and what is
    wrong with the filters (shown next to their fields)."""
    errors: FieldMessages = {}
    kind: Literal["call", "admin"] | None = None
    if query.kind in ("call", "admin"):
        kind = "call" if query.kind == "call" else "admin"
    elif query.kind:
        errors["kind"] = ["Choose calls or admin changes."]
    if query.outcome and query.outcome not in OUTCOMES:
        errors["outcome"] = [f"Choose one of {', '.join(OUTCOMES)}."]
    try:
        since = parse_since(query.since)
    except ValueError:
        since, errors["since"] = None, ["Enter a date and time, e.g. 2026-11-25T14:00 (UTC)."]
    fields: dict[str, Any] = {
        "kind": kind,
        "outcome": query.outcome or None,
        "tool": query.tool or None,
        "client_name": query.client or None,
        "operator": query.operator or None,
        "since": since,
    }
    fields.update({k: v for k, v in scope.items() if v is not None})
    return LogFilter(**fields), errors


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _pretty(value: dict[str, Any] | None) -> str | None:
    if not value:
        return None
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode()


def _call_row(entry: ToolCallCompleted) -> ActivityRow:
    client = " ".join(p for p in (entry.client_name, entry.client_version) if p) or None
    return ActivityRow(
        id=entry.id,
        time=entry.time,
        kind="call",
        account_id=entry.account_id,
        server_id=entry.server_id,
        server_name=entry.server_name or None,
        client=client,
        operator=None,
        what=entry.tool or entry.method,
        target=None,
        outcome=entry.outcome,
        error_code=entry.error_code,
        duration=_duration(entry.duration_ms),
        details=_pretty(entry.arguments),
    )


def _admin_row(entry: AdminChange) -> ActivityRow:
    return ActivityRow(
        id=entry.id,
        time=entry.time,
        kind="admin",
        account_id=entry.account_id,
        server_id=entry.server_id,
        server_name=None,
        client=None,
        operator=entry.operator,
        what=entry.action,
        target=entry.name or entry.target_id,
        outcome=None,
        error_code=None,
        duration=None,
        details=_pretty(entry.changes),
    )


def activity_rows(log_page: LogPage) -> list[ActivityRow]:
    """The rows of a page of stored records (a record that no longer decodes is left out)."""
    rows: list[ActivityRow] = []
    for raw in log_page.items:
        try:
            entry = _DECODER.decode(raw)
        except msgspec.DecodeError:
            continue
        rows.append(_call_row(entry) if isinstance(entry, ToolCallCompleted) else _admin_row(entry))
    return rows


async def read_activity(request: AnyRequest, **scope: str | None) -> ActivityPage:
    """One page of the audit trail within ``scope``, filtered by the request's query string.

    Raises:
        Unavailable: JetStream did not answer.
        InvalidArgument: the cursor is not one the log handed out.
    """
    query = activity_query(request.query_params)
    filters, errors = log_filter(query, **scope)
    if errors:
        return ActivityPage(rows=[], query=query, errors=errors, next_link=None)
    found = await audit_log(request).page(filters, cursor=query.cursor or None, limit=PAGE_SIZE)
    next_link = query.link(cursor=found.next_cursor) if found.next_cursor else None
    return ActivityPage(rows=activity_rows(found), query=query, errors={}, next_link=next_link)


def _status(activity: ActivityPage) -> int:
    return 422 if activity.errors else 200


@get("/accounts/{account_id:str}/activity")
async def account_activity_page(request: AnyRequest, account_id: str) -> Response[str]:
    """Every record of one account: its servers' calls and the admin changes made to it."""
    session = await signed_in(request)
    provisioner = console_state(request).provisioner
    account = account_view(await provisioner.account(account_id), 0)
    activity = await read_activity(request, account_id=account_id)
    return page(session, "activity.html", _status(activity), account=account, activity=activity)


@get("/history")
async def admin_history_page(request: AnyRequest) -> Response[str]:
    """Every admin change, across accounts, newest first (filter by operator)."""
    session = await signed_in(request)
    activity = await read_activity(request, kind="admin")
    return page(session, "admin_history.html", _status(activity), activity=activity)
