"""Plan mode: the exact upstream request a call would send, and what it would do, in words.

:class:`Planner` describes a validated call for a person deciding whether to allow it: method,
path with its ids, query and body (credential fields redacted), the effect (``Resolves incident
7 "Checkout API is down".``) and who is told when the action notifies people. Names come from
upstream reads, at most one per resource named; the call itself is never sent.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import msgspec

from stackmcp.betterstack_worker.api import Operation
from stackmcp.betterstack_worker.execution import provenance
from stackmcp.betterstack_worker.execution.requests import UpstreamRequest
from stackmcp.contracts.tools import REDACTED, CallPlan, Provenance, ToolDescriptor

__all__ = ["Lookup", "Planner", "Subject", "redact_body"]

Lookup = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
"""Runs a read tool by name with arguments; its result, or ``None`` when the read failed."""

ESCALATE: Final = "better_stack_incidents_escalate"
GET_SCHEDULE: Final = "get_single_better_stack_on_call_schedule_by_id"
GET_POLICY: Final = "get_single_better_stack_escalation_policy_by_id"
GET_STATUS_PAGE: Final = "get_single_better_stack_status_page_by_id"
FIND_MEMBER: Final = "better_stack_team_members_find_by_email"

_EFFECTS: Final[Mapping[str, str]] = {
    "better_stack_incidents_acknowledge": (
        "Acknowledges {subject}: its escalation stops, so nobody further is paged."
    ),
    "better_stack_incidents_resolve": "Resolves {subject}.",
    "better_stack_incidents_reopen": "Reopens {subject}.",
    ESCALATE: "Escalates {subject} to {target}.",
    "create_a_better_stack_incident": "Creates incident {title} and alerts responders at once.",
    "delete_a_better_stack_incident_by_id": "Deletes {subject} and its timeline permanently.",
    "create_a_better_stack_incident_comment": "Comments on {subject}: {content}.",
    "better_stack_team_members_invite": "Invites {email} to the team.",
    "better_stack_team_members_remove": (
        "Removes {email} from the team (or withdraws the invitation); access ends at once."
    ),
    "better_stack_team_members_change_role": (
        "Changes the role of team member {member_id} to role {role_id}."
    ),
    "better_stack_metadata_upsert": "Sets metadata {key} on {owner_type} {owner_id} to {values}.",
    "better_stack_on_call_schedules_create_rotation": (
        "Replaces the rotation of {subject} from today on, cycling through {users}."
    ),
    "create_a_better_stack_on_call_event": (
        "Adds a shift to {subject} for {users} from {starts_at} to {ends_at}."
    ),
    "create_a_better_stack_status_page_report": "Publishes the report {title} on {subject}.",
    "better_stack_team_maintenance_start": (
        "Starts team-wide maintenance: no monitor, heartbeat or integration of the team alerts "
        "until it ends (or moves the end of the current one)."
    ),
    "better_stack_team_maintenance_end": "Ends team-wide maintenance now; alerting resumes.",
    "create_a_better_stack_status_page_report_update": "Posts an update to {subject}: {message}.",
}
"""Per-tool effect phrasing; other tools get :func:`_generic_effect`. Fields are ``subject``,
``target``, ``title``, ``changes``, ``what``, ``action`` and the call's arguments, shown short."""

_VERSION = re.compile(r"^/api/v\d+")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_READ_VERB = re.compile(r"^(get|list)_")
_NAME_KEYS = ("name", "title", "pronounceable_name", "public_name", "company_name", "email", "url")
_TITLE_ARGUMENTS = ("name", "title", "summary", "public_name", "company_name", "email", "url")
_PLAIN_SUFFIXES = ("_id", "_type", "_at")
_TEXT_CHARS = 80
_CHANNELS = {
    "call": "phone call",
    "sms": "SMS",
    "email": "e-mail",
    "push": "push notification",
    "critical_alert": "critical alert",
}
_CREDENTIAL_KEY = re.compile(r"password|secret|token|api_key|authorization", re.IGNORECASE)
_HEADER_LISTS = frozenset({"request_headers", "headers_template"})


class Subject(msgspec.Struct, frozen=True):
    """An existing resource a call names, e.g. incident 7 "Checkout API is down"."""

    label: str
    id: str
    name: str | None = None

    def __str__(self) -> str:
        return f'{self.label} {self.id} "{self.name}"' if self.name else f"{self.label} {self.id}"


class _Target(msgspec.Struct, frozen=True):
    """Where to read the name of the resource a tool acts on (or in)."""

    tool: str
    """The get tool."""
    params: tuple[str, ...]
    """Its path parameters, filled from the call's arguments."""
    id_param: str
    label: str


class _Reads:
    """The plan's upstream reads, each made at most once."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._seen: dict[bytes, Any] = {}

    async def get(self, tool: str, arguments: Mapping[str, Any]) -> Any:
        key = msgspec.json.encode([tool, arguments], order="sorted")
        if key not in self._seen:
            self._seen[key] = await self._lookup(tool, arguments)
        return self._seen[key]

    async def subject(self, tool: str, label: str, param: str, value: Any) -> Subject:
        if value is None:
            return Subject(label, "(not given)")
        found = await self.get(tool, {param: str(value)})
        return Subject(label, str(value), name_of(found))


class _Context(msgspec.Struct, frozen=True, kw_only=True):
    tool: ToolDescriptor
    op: Operation
    arguments: Mapping[str, Any]
    subject: Subject | None
    reads: _Reads


class Planner:
    """Builds :class:`CallPlan` objects for the tools of one catalogue (tables built once).

    Args:
        operations: tool name → its operation.
    """

    def __init__(self, operations: Mapping[str, Operation]) -> None:
        gets = {_unversioned(op.path): n for n, op in operations.items() if op.method == "get"}
        self._operations = operations
        self._targets = {
            name: target
            for name, op in operations.items()
            if (target := _target_of(op, gets, operations)) is not None
        }

    async def plan(
        self,
        tool: ToolDescriptor,
        arguments: Mapping[str, Any],
        request: UpstreamRequest,
        lookup: Lookup,
        who: Provenance | None = None,
    ) -> CallPlan:
        """What ``request`` (built from ``arguments``) would do; only reads are sent."""
        op = self._operations[tool.name]
        reads = _Reads(lookup)
        subject = await self._subject(tool.name, op, arguments, reads)
        context = _Context(tool=tool, op=op, arguments=arguments, subject=subject, reads=reads)
        target, notifies = await _who_is_told(context)
        effect = _effect(context, target)
        note = provenance.note(tool.name, who)
        if note is not None:
            effect += f' Then adds the timeline note "{note}"'
        return CallPlan(
            method=request.method,
            path=request.path,
            query=_query(request.query),
            body=redact_body(request.body),
            effect=effect,
            notifies=notifies,
        )

    async def _subject(
        self, name: str, op: Operation, arguments: Mapping[str, Any], reads: _Reads
    ) -> Subject | None:
        target = self._targets.get(name)
        if target is not None:
            found = await reads.get(target.tool, {p: arguments[p] for p in target.params})
            return Subject(target.label, str(arguments[target.id_param]), name_of(found))
        ids = [p.name for p in op.params if p.location == "path"]
        return Subject(op.resource.label, str(arguments[ids[-1]])) if ids else None


def _unversioned(path: str) -> str:
    return _VERSION.sub("", path)


def _target_of(
    op: Operation, gets: Mapping[str, str], operations: Mapping[str, Operation]
) -> _Target | None:
    """The get tool of the deepest resource ``op``'s path names (itself, or its parent)."""
    own = {p.name for p in op.params if p.location == "path"}
    for found in reversed(list(_PLACEHOLDER.finditer(op.path))):
        get = gets.get(_unversioned(op.path[: found.end()]))
        if get is None:
            continue
        params = tuple(p.name for p in operations[get].params if p.location == "path")
        if set(params) <= own:
            return _Target(get, params, found.group(1), operations[get].resource.label)
    return None


def name_of(resource: Any) -> str | None:
    """The name a person knows ``resource`` by (name, title, e-mail, URL...), shortened."""
    if not isinstance(resource, dict):
        return None
    for key in _NAME_KEYS:
        value = resource.get(key)
        if isinstance(value, str) and value.strip() and value != REDACTED:
            return _short(value).replace('"', "'")
    return None


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _TEXT_CHARS else line[: _TEXT_CHARS - 1] + "…"


def _shown(name: str, value: Any) -> str:
    """An argument as the effect shows it: ids plain, text quoted, anything else as JSON."""
    if isinstance(value, str):
        return _short(value) if name.endswith(_PLAIN_SUFFIXES) else f'"{_short(value)}"'
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value) if value else "nobody"
    return _short(msgspec.json.encode(value).decode())


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "(not given)"


def _effect(context: _Context, target: str | None) -> str:
    template = _EFFECTS.get(context.tool.name) or _generic_effect(context)
    arguments = context.arguments
    fields = _Fields({name: _shown(name, value) for name, value in arguments.items()})
    title = next((arguments[a] for a in _TITLE_ARGUMENTS if isinstance(arguments.get(a), str)), "")
    fields.update(
        subject=str(context.subject) if context.subject else context.op.resource.label,
        target=target or "(not given)",
        title=f'"{_short(title)}"' if title else "(untitled)",
        changes=", ".join(sorted(_changed(context))) or "nothing",
        what=context.op.resource.plural.replace("_", " "),
        action=_READ_VERB.sub("", context.op.method).replace("_", " "),
    )
    return template.format_map(fields)


def _changed(context: _Context) -> list[str]:
    path = {p.name for p in context.op.params if p.location == "path"}
    return [name for name in context.arguments if name not in path]


_METHOD_EFFECTS: Final[Mapping[str, str]] = {
    "get": "Reads {subject}; changes nothing.",
    "update": "Updates {subject}: changes {changes}.",
    "delete": "Deletes {subject} permanently.",
}


def _generic_effect(context: _Context) -> str:
    """A template from the method kind: ``Updates {subject}: changes {changes}.`` and so on."""
    method, subject = context.op.method, context.subject
    if method in _METHOD_EFFECTS:
        return _METHOD_EFFECTS[method]
    if method == "create":
        return _create_effect(context)
    if method == "list":
        return "Lists {what} of {subject}; changes nothing." if subject else "Lists {what}."
    if context.tool.method_class == "read":
        return "Reads the {action} of {subject}; changes nothing." if subject else "Reads {what}."
    return "Runs {action} on {subject}." if subject else "Runs {action}."


def _create_effect(context: _Context) -> str:
    titled = any(isinstance(context.arguments.get(a), str) for a in _TITLE_ARGUMENTS)
    title = " {title}" if titled else ""
    parent = " in {subject}" if context.subject else ""
    return f"Creates {context.op.resource.label}{title}{parent}."


async def _who_is_told(context: _Context) -> tuple[str | None, str | None]:
    """The escalation target (escalate only) and who is notified, if anyone."""
    if context.tool.name == ESCALATE:
        return await _escalation(context)
    rule = _NOTIFIES.get(context.tool.name)
    if rule is not None:
        return None, await rule(context)
    if "notifies" in context.tool.tags:
        return None, context.op.description.split(". ")[0].rstrip(".") + "."
    return None, None


def _channels(arguments: Mapping[str, Any]) -> str:
    chosen = [words for key, words in _CHANNELS.items() if arguments.get(key) is True]
    return f" by {', '.join(chosen)}" if chosen else ""


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


async def _escalation(context: _Context) -> tuple[str, str]:
    arguments = context.arguments
    kind = arguments.get("escalation_type")
    by = _channels(arguments)
    if kind == "User":
        person = await _person(context)
        return person, _sentence(f"{person} is paged{by}.")
    if kind == "Team":
        team = _team(arguments)
        return team, f"Everyone on {team} is paged{by}."
    if kind == "Schedule":
        schedule, on_call = await _schedule(context)
        return str(schedule), f"Whoever is on call on {schedule} is paged{by}{on_call}."
    if kind == "Policy":
        policy = await context.reads.subject(
            GET_POLICY, "escalation policy", "policy_id", arguments.get("policy_id")
        )
        return str(policy), _sentence(f"{policy} runs: its responders are paged in turn{by}.")
    return "the whole organisation", f"Everyone in the organisation is paged{by}."


async def _person(context: _Context) -> str:
    email = context.arguments.get("user_email")
    if not isinstance(email, str):
        return f"user {context.arguments.get('user_id')}"
    found = await context.reads.get(FIND_MEMBER, {"email": email})
    if isinstance(found, dict):
        full = " ".join(str(found.get(k) or "") for k in ("first_name", "last_name")).strip()
        if full:
            return f"user {_short(full)} ({email})"
    return f"user {email}"


def _team(arguments: Mapping[str, Any]) -> str:
    if isinstance(arguments.get("team_name"), str):
        return f'team "{_short(arguments["team_name"])}"'
    if arguments.get("team_id") is not None:
        return f"team {arguments['team_id']}"
    return "the team"


async def _schedule(context: _Context) -> tuple[Subject, str]:
    schedule_id = str(context.arguments.get("schedule_id"))
    found = await context.reads.get(GET_SCHEDULE, {"schedule_id": schedule_id})
    if not isinstance(found, dict):
        return Subject("on-call schedule", schedule_id), ""
    name = name_of(found) or ("Default" if found.get("default_calendar") else None)
    users = found.get("on_call_users")
    emails = [u["email"] for u in users or () if isinstance(u, dict) and "email" in u]
    now = f" (on call now: {', '.join(emails)})" if emails else " (nobody is on call now)"
    return Subject("on-call schedule", schedule_id, name), now


async def _incident_alerts(context: _Context) -> str:
    by = _channels(context.arguments)
    policy_id = context.arguments.get("policy_id")
    if policy_id is None:
        return f"The team's on-call responders are alerted at once{by}."
    policy = await context.reads.subject(GET_POLICY, "escalation policy", "policy_id", policy_id)
    return _sentence(f"{policy} pages its responders in turn{by}.")


async def _page_subscribers(context: _Context, default: bool) -> str | None:
    if context.arguments.get("notify_subscribers", default) is not True:
        return None
    page = await context.reads.subject(
        GET_STATUS_PAGE, "status page", "status_page_id", context.arguments.get("status_page_id")
    )
    return f"The subscribers of {page} are e-mailed."


async def _report_subscribers(context: _Context) -> str | None:
    return await _page_subscribers(context, default=True)


async def _update_subscribers(context: _Context) -> str | None:
    return await _page_subscribers(context, default=False)


async def _invitee(context: _Context) -> str:
    return f"{_shown('email', context.arguments.get('email'))} gets an invitation e-mail."


async def _maintenance_told(context: _Context) -> str:
    return "The team's Slack and Microsoft Teams integrations are told."


_NOTIFIES: Final[Mapping[str, Callable[[_Context], Awaitable[str | None]]]] = {
    "create_a_better_stack_incident": _incident_alerts,
    "create_a_better_stack_status_page_report": _report_subscribers,
    "create_a_better_stack_status_page_report_update": _update_subscribers,
    "better_stack_team_members_invite": _invitee,
    "better_stack_team_maintenance_start": _maintenance_told,
    "better_stack_team_maintenance_end": _maintenance_told,
}
"""Who is told, per tool; a tool tagged ``notifies`` without a rule quotes its description."""


def _query(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Query pairs as an object; a repeated or ``[]`` name holds a list."""
    query: dict[str, Any] = {}
    for name, value in pairs:
        if name in query:
            before = query[name]
            query[name] = [*before, value] if isinstance(before, list) else [before, value]
        else:
            query[name] = [value] if name.endswith("[]") else value
    return query


def redact_body(value: Any, key: str = "") -> Any:
    """``value`` with passwords, tokens and header values replaced by ``"[redacted]"``."""
    if _CREDENTIAL_KEY.search(key) and isinstance(value, str | int | float):
        return value if isinstance(value, bool) else REDACTED
    if isinstance(value, dict):
        return {k: redact_body(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key in _HEADER_LISTS:
            return [_redacted_header(item) for item in value]
        return [redact_body(item, key) for item in value]
    return value


def _redacted_header(header: Any) -> Any:
    if not isinstance(header, dict):
        return REDACTED
    return {**redact_body(header), **({"value": REDACTED} if "value" in header else {})}
