"""Console forms: what a browser posts, turned into the admin API's request bodies.

The pages post ``application/x-www-form-urlencoded`` fields named for people (``methods``,
``expiry``); the domain takes the same Structs the JSON API decodes, so both share every rule.
Field errors the domain reports (``config.tags``) are mapped back to the form field that shows
them (``tags``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from msgspec import UNSET, UnsetType

from stackmcp.provisioning.bodies import (
    DEFAULT_BASE_URL,
    AccountCreate,
    ApiTokenCreate,
    ServerConfigBody,
    ServerCreate,
    ServerUpdate,
)

__all__ = [
    "EXPIRY_CHOICES",
    "FieldMessages",
    "FormData",
    "ServerForm",
    "account_body",
    "api_token_body",
    "field_messages",
    "server_create_body",
    "server_form",
    "server_update_body",
]

EXPIRY_CHOICES: tuple[tuple[str, str, timedelta | None], ...] = (
    ("never", "Never expires", None),
    ("1h", "In 1 hour", timedelta(hours=1)),
    ("8h", "In 8 hours", timedelta(hours=8)),
    ("24h", "In 24 hours", timedelta(hours=24)),
    ("7d", "In 7 days", timedelta(days=7)),
    ("30d", "In 30 days", timedelta(days=30)),
    ("90d", "In 90 days", timedelta(days=90)),
    ("custom", "On a date I choose", None),
)
"""``expiry`` choices of the server forms: value, label, how far ahead."""
_AHEAD = {value: ahead for value, _, ahead in EXPIRY_CHOICES}

_FIELD_OF = {
    "config.methods": "methods",
    "config.tags": "tags",
    "config.require_api_token_auth": "require_api_token_auth",
    "config": "methods",
    "expires_at": "expiry",
    "integration": "name",
}


class FormData(Protocol):
    """What Litestar's parsed form offers (a multi-dict)."""

    def get(self, key: str, /) -> Any: ...

    def getall(self, key: str, default: list[str], /) -> list[Any]: ...


FieldMessages = dict[str, list[str]]
"""Form field → what to fix, shown next to that field."""


def field_messages(fields: Mapping[str, Sequence[str]]) -> FieldMessages:
    """Map the domain's field paths (``config.tags``) to the form's fields (``tags``)."""
    messages: FieldMessages = {}
    for path, texts in fields.items():
        messages.setdefault(_FIELD_OF.get(path, path), []).extend(texts)
    return messages


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
    expiry: str = "never"
    expires_at_local: str = ""
    tz_offset: str = "0"


def server_form(form: FormData, *, default_expiry: str = "never") -> ServerForm:
    """Read the server form's fields (unknown expiry choices fall back to ``default_expiry``)."""
    expiry = _text(form, "expiry") or default_expiry
    return ServerForm(
        name=form.get("name") or "",
        methods=[m for m in form.getall("methods", []) if m.strip()],
        tags=[t for t in form.getall("tags", []) if t.strip()],
        require_api_token_auth=form.get("require_api_token_auth") == "on",
        expiry=expiry,
        expires_at_local=_text(form, "expires_at_local"),
        tz_offset=_text(form, "tz_offset") or "0",
    )


def _config(values: ServerForm) -> ServerConfigBody:
    return ServerConfigBody(
        methods=values.methods,
        tags=values.tags,
        require_api_token_auth=values.require_api_token_auth,
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
        name=values.name, config=_config(values), expires_at=None if when is UNSET else when
    )


def server_update_body(values: ServerForm, now: datetime) -> ServerUpdate:
    """The edit form as ``PATCH .../mcp/{server_id}`` would receive it."""
    return ServerUpdate(
        name=values.name, config=_config(values), expires_at=expires_at(values, now)
    )
