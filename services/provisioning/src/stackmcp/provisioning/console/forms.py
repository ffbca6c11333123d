"""Console forms: what a browser posts, turned into the admin API's request bodies.

The pages post ``application/x-www-form-urlencoded`` fields named for people (``methods``,
``expiry``); the domain takes the same Structs the JSON API decodes, so both share every rule.
Field errors the domain reports (``config.tags``) are mapped back to the form field that shows
them (``tags``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from msgspec import UNSET, UnsetType

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.policy import budget_text
from stackmcp.provisioning.bodies import (
    DEFAULT_BASE_URL,
    AccountCreate,
    ApiTokenCreate,
    ServerConfigBody,
    ServerCreate,
    ServerUpdate,
)

__all__ = [
    "CONFIRM_CHOICES",
    "EXPIRY_CHOICES",
    "NEW_SERVER_CONFIRM",
    "FieldMessages",
    "FormData",
    "Lines",
    "ServerForm",
    "account_body",
    "api_token_body",
    "error_list",
    "expiry_label",
    "field_messages",
    "form_config",
    "form_fields",
    "form_problems",
    "grant_form",
    "humane",
    "parse_lines",
    "server_create_body",
    "server_form",
    "server_update_body",
]

EXPIRY_CHOICES: tuple[tuple[str, str, timedelta | None], ...] = (
    ("1h", "In 1 hour", timedelta(hours=1)),
    ("8h", "In 8 hours", timedelta(hours=8)),
    ("24h", "In 24 hours", timedelta(hours=24)),
    ("7d", "In 7 days", timedelta(days=7)),
    ("30d", "In 30 days", timedelta(days=30)),
    ("90d", "In 90 days", timedelta(days=90)),
    ("custom", "On a date I choose", None),
    ("never", "Never expires (not recommended)", None),
)
"""``expiry`` choices of the server forms: value, label, how far ahead."""
_AHEAD = {value: ahead for value, _, ahead in EXPIRY_CHOICES}

CONFIRM_CHOICES: tuple[tuple[str, str], ...] = (
    ("none", "No: every tool runs at once"),
    ("destructive", "Before destructive changes (deletes, resolves, removals)"),
    ("writes", "Before every change"),
)
"""``confirm`` choices of the server forms: value, label."""
NEW_SERVER_CONFIRM = "writes"
"""What a server created in the console asks confirmation for, unless the operator chooses."""

_FIELD_OF = {
    "config.methods": "methods",
    "config.tags": "tags",
    "config.require_api_token_auth": "require_api_token_auth",
    "config.exclude_tags": "exclude_tags",
    "config.exclude_tools": "exclude_tools",
    "config.confirm": "confirm",
    "config.reveal_secrets": "reveal_secrets",
    "config.provenance": "provenance",
    "config.tool_exposure": "tool_exposure",
    "config.budgets": "budgets",
    "config.pin": "pin",
    "config": "methods",
    "expires_at": "expiry",
    "integration": "name",
}
_LINES_OF = {"config.budgets.": "budgets", "config.pin.": "pin"}
_SEPARATORS = re.compile(r"[\s,]+")


class FormData(Protocol):
    """What Litestar's parsed form offers (a multi-dict)."""

    def get(self, key: str, /) -> Any: ...

    def getall(self, key: str, default: list[str], /) -> list[Any]: ...


FieldMessages = dict[str, list[str]]
"""Form field → what to fix, shown next to that field."""


def field_messages(
    fields: Mapping[str, Sequence[str]], values: ServerForm | None = None
) -> FieldMessages:
    """Map the domain's field paths (``config.tags``) to the form's fields (``tags``); a
    budget's or a pin's problem (``config.budgets.resolve``) names its line of ``values``.
    With ``values`` (the server form) the API's wording is put in a person's words."""
    messages: FieldMessages = {}
    for path, texts in fields.items():
        field_name, line = _form_field(path, values)
        shown = [humane(text) for text in texts] if values is not None else list(texts)
        messages.setdefault(field_name, []).extend(f"{line}{text}" for text in shown)
    return messages


_HUMANE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^must be an ISO-8601 time.*$"), "choose a date and time"),
    (re.compile(r"^needs a time zone.*$"), "choose a date and time"),
    (
        re.compile(r"^must be at least (\S+) seconds in the future$"),
        r"must be at least \1 seconds from now",
    ),
    (
        re.compile(r"^must be within 100 years.*$"),
        "must be within 100 years (or choose “Never expires”)",
    ),
    (re.compile(r"^must not be empty$"), "give the server a name"),
)

_LABELS = {
    "name": "Name",
    "methods": "Methods",
    "tags": "Tags",
    "expiry": "Expiry",
    "exclude_tags": "Tags to leave out",
    "exclude_tools": "Tools to leave out",
    "confirm": "Ask a person first",
    "budgets": "Call budgets",
    "pin": "Limit to these ids",
    "reveal_secrets": "Reveal secrets",
    "provenance": "Timeline note",
    "tool_exposure": "Tool list",
    "require_api_token_auth": "API token",
}


def humane(text: str) -> str:
    """A domain message for a form field in the words a person uses (the API's own wording
    names JSON fields and formats)."""
    for pattern, replacement in _HUMANE:
        if pattern.match(text):
            return pattern.sub(replacement, text)
    return text


def error_list(errors: FieldMessages) -> list[tuple[str, str]]:
    """The error summary's lines: (field id, "Label: what to fix")."""
    return [
        (name, f"{_LABELS.get(name, name)}: {' '.join(texts)}")
        for name, texts in errors.items()
        if texts
    ]


def _form_field(path: str, values: ServerForm | None) -> tuple[str, str]:
    for prefix, field_name in _LINES_OF.items():
        if path.startswith(prefix):
            key = path.removeprefix(prefix)
            found = parse_lines(getattr(values, field_name)) if values else None
            number = found.line_of.get(key) if found else None
            where = f"Line {number} ({key}): " if number else f"{key}: "
            return field_name, where
    return _FIELD_OF.get(path, path), ""


@dataclass(frozen=True)
class Lines:
    """The ``name = value`` lines of a text box: values by name, each name's line, and the
    lines that could not be read (as messages naming the line)."""

    values: dict[str, str]
    line_of: dict[str, int]
    problems: list[str]


def parse_lines(text: str) -> Lines:
    """Read ``name = value`` lines (blank lines skipped; a name given twice is a problem)."""
    values: dict[str, str] = {}
    line_of: dict[str, int] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        name, equals, value = (part.strip() for part in line.partition("="))
        if not equals or not name or not value:
            problems.append(f"Line {number}: write a name, “=”, then a value.")
        elif name in values:
            problems.append(f"Line {number}: {name} is on line {line_of[name]} already.")
        else:
            values[name], line_of[name] = value, number
    return Lines(values=values, line_of=line_of, problems=problems)


def form_problems(values: ServerForm) -> FieldMessages:
    """Problems the form itself finds before the domain is asked (unreadable lines)."""
    problems: FieldMessages = {}
    for field_name in ("budgets", "pin"):
        found = parse_lines(getattr(values, field_name)).problems
        if found:
            problems[field_name] = found
    return problems


def _text(form: FormData, name: str) -> str:
    return (form.get(name) or "").strip()


def account_body(form: FormData) -> AccountCreate:
    """The connect-account form as ``POST /integrated-account`` would receive it."""
    team = _text(form, "team_name")
    return AccountCreate(
        integration="betterstack",
        name=form.get("name") or "",
        betterstack_token=form.get("betterstack_token") or "",
        base_url=_text(form, "base_url") or DEFAULT_BASE_URL,
        team_name=team or None,
        verify=form.get("verify") == "on",
    )


def api_token_body(form: FormData) -> ApiTokenCreate:
    """The create-API-token form."""
    return ApiTokenCreate(name=form.get("name") or "")


@dataclass
class ServerForm:
    """What the create/edit server form holds (to render it again after an error)."""

    name: str = ""
    methods: list[str] = field(default_factory=lambda: ["read"])
    tags: list[str] = field(default_factory=list)
    require_api_token_auth: bool = False
    expiry: str = "30d"
    """A new server expires in 30 days unless the operator chooses otherwise."""
    expires_at_local: str = ""
    tz_offset: str = "0"
    exclude_destructive: bool = True
    """A new console server leaves destructive tools out unless the operator unticks it."""
    exclude_tags: str = ""
    """Other tags to leave out, comma- or space-separated."""
    exclude_tools: str = ""
    """Tools to leave out by name, comma- or space-separated."""
    confirm: str = NEW_SERVER_CONFIRM
    budgets: str = ""
    """One ``target = 3/h`` a line."""
    pin: str = ""
    """One ``incident_id = 7, 8`` a line."""
    reveal_secrets: bool = False
    provenance: bool = True
    tool_exposure: str = "all"
    """``all`` or ``discovery`` (three meta-tools in ``tools/list``)."""


def server_form(form: FormData, *, default_expiry: str = "never") -> ServerForm:
    """Read the server form's fields (unknown expiry choices fall back to ``default_expiry``).

    Checkboxes are read as a browser sends them: absent means unticked.
    """
    expiry = _text(form, "expiry") or default_expiry
    return ServerForm(
        name=form.get("name") or "",
        methods=[m for m in form.getall("methods", []) if m.strip()],
        tags=[t for t in form.getall("tags", []) if t.strip()],
        require_api_token_auth=form.get("require_api_token_auth") == "on",
        expiry=expiry,
        expires_at_local=_text(form, "expires_at_local"),
        tz_offset=_text(form, "tz_offset") or "0",
        exclude_destructive=form.get("exclude_destructive") == "on",
        exclude_tags=_text(form, "exclude_tags"),
        exclude_tools=_text(form, "exclude_tools"),
        confirm=_text(form, "confirm"),
        budgets=form.get("budgets") or "",
        pin=form.get("pin") or "",
        reveal_secrets=form.get("reveal_secrets") == "on",
        provenance=form.get("provenance") == "on",
        tool_exposure=_text(form, "tool_exposure"),
    )


_BOXES = ("require_api_token_auth", "exclude_destructive", "reveal_secrets", "provenance")
_TEXTS = (
    "name",
    "expiry",
    "expires_at_local",
    "tz_offset",
    "exclude_tags",
    "exclude_tools",
    "confirm",
    "budgets",
    "pin",
    "tool_exposure",
)


def form_fields(values: ServerForm) -> list[tuple[str, str]]:
    """The form as the fields a browser would post (hidden fields of the review page), so
    :func:`server_form` reads back the same values."""
    fields = [("methods", m) for m in values.methods] + [("tags", t) for t in values.tags]
    fields += [(name, "on") for name in _BOXES if getattr(values, name)]
    fields += [(name, str(getattr(values, name))) for name in _TEXTS]
    return fields


def expiry_label(values: ServerForm, now: datetime) -> tuple[str, datetime | None]:
    """The chosen expiry in words and as a time (``None``: never, or kept as it is)."""
    when = expires_at(values, now)
    labels = {value: label for value, label, _ in EXPIRY_CHOICES}
    if when is UNSET:
        return "unchanged", None
    if when is None:
        return "never expires", None
    try:
        at = datetime.fromisoformat(str(when))
    except ValueError:
        return str(when), None
    return labels.get(values.expiry, "on the chosen date"), at


def grant_form(grant: Grant, *, expiry: str = "keep") -> ServerForm:
    """The form filled with a server's current configuration (the edit page)."""
    return ServerForm(
        name=grant.name,
        methods=list(grant.methods),
        tags=list(grant.tags),
        require_api_token_auth=grant.require_api_token_auth,
        expiry=expiry,
        exclude_destructive="destructive" in grant.exclude_tags,
        exclude_tags=", ".join(t for t in grant.exclude_tags if t != "destructive"),
        exclude_tools=", ".join(grant.exclude_tools),
        confirm=grant.confirm,
        budgets="\n".join(f"{b.target} = {budget_text(b)}" for b in grant.budgets),
        pin="\n".join(f"{p.param} = {', '.join(p.values)}" for p in grant.pin),
        reveal_secrets=grant.reveal_secrets,
        provenance=grant.provenance,
        tool_exposure=grant.tool_exposure,
    )


def _words(text: str) -> list[str]:
    return [w for w in _SEPARATORS.split(text) if w]


def _pin_values(text: str) -> list[str | int]:
    return [*_words(text)]


def form_config(values: ServerForm) -> ServerConfigBody:
    """The form's configuration as the API's ``config`` (unreadable lines left out: see
    :func:`form_problems`)."""
    exclude_tags = ["destructive"] if values.exclude_destructive else []
    exclude_tags += _words(values.exclude_tags)
    pins = parse_lines(values.pin).values
    return ServerConfigBody(
        methods=values.methods,
        tags=values.tags,
        require_api_token_auth=values.require_api_token_auth,
        exclude_tags=exclude_tags,
        exclude_tools=_words(values.exclude_tools),
        confirm=values.confirm or UNSET,
        budgets=parse_lines(values.budgets).values,
        pin={param: _pin_values(text) for param, text in pins.items()},
        reveal_secrets=values.reveal_secrets,
        provenance=values.provenance,
        tool_exposure=values.tool_exposure or UNSET,
    )


def expires_at(values: ServerForm, now: datetime) -> str | UnsetType | None:
    """The ``expires_at`` the form asks for: ISO text, ``None`` (never) or ``UNSET`` (keep).

    A custom date comes from ``datetime-local`` (no zone); ``tz_offset`` is the browser's
    ``getTimezoneOffset()`` in minutes, set by the page script (0, i.e. UTC, without it).
    Text that is not a date is passed on as it is, so the domain reports it on the field.
    """
    if values.expiry == "keep":
        return UNSET
    if values.expiry == "custom":
        try:
            local = datetime.fromisoformat(values.expires_at_local)
            if local.tzinfo is None:  # a zone needs |offset| < 24 h; other numbers are refused
                local = local.replace(tzinfo=timezone(timedelta(minutes=-int(values.tz_offset))))
        except (ValueError, OverflowError):
            return values.expires_at_local or "(no date chosen)"
        return local.isoformat()
    ahead = _AHEAD.get(values.expiry)
    if ahead is None:
        if values.expiry != "never":
            return f"(unknown choice {values.expiry!r})"
        return None
    return (now + ahead).isoformat()


def server_create_body(values: ServerForm, now: datetime) -> ServerCreate:
    """The create form as ``POST /integrated-account/{id}/mcp`` would receive it."""
    when = expires_at(values, now)
    return ServerCreate(
        name=values.name, config=form_config(values), expires_at=None if when is UNSET else when
    )


def server_update_body(values: ServerForm, now: datetime) -> ServerUpdate:
    """The edit form as ``PATCH .../mcp/{server_id}`` would receive it."""
    return ServerUpdate(
        name=values.name, config=form_config(values), expires_at=expires_at(values, now)
    )
