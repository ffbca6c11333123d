"""Request bodies of the admin API and their decoding into precise, field-level errors.

Bodies are decoded with msgspec into the Structs below (unknown fields refused, so a typo such as
``expire_at`` is reported rather than silently ignored). A body that is not JSON, or not an
object, is a 400 without fields; every field problem is collected into one
:class:`~stackmcp.runtime.errors.InvalidArgument` with ``fields`` (answered as 422).

Hostile bodies are refused before any field is looked at, each as a 400 saying why: an empty body,
bytes that are not UTF-8, nesting deeper than :data:`MAX_DEPTH` (checked on the raw bytes, so a
body of ten thousand brackets never reaches a recursive decoder), and a key repeated in one
object. Repeated keys are refused rather than "last one wins": JSON leaves them undefined, and
two parsers reading one admin request differently (a proxy's audit log and this service) is how
a reviewed change turns into a different one. Numbers of any size are decoded by the field they
land in, so ``1e400`` or ``2**70`` where a string or a boolean belongs is a 422 naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

import msgspec
from msgspec import UNSET, UnsetType

from stackmcp.runtime import strictjson
from stackmcp.runtime.errors import InvalidArgument
from stackmcp.runtime.strictjson import MAX_DEPTH, shown

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPIRY_AHEAD",
    "NAME_MAX",
    "AccountCreate",
    "AdminTokenCreate",
    "ApiTokenCreate",
    "FieldErrors",
    "ServerConfigBody",
    "ServerCreate",
    "ServerUpdate",
    "check_base_url",
    "check_name",
    "decode_body",
    "parse_expires_at",
]

NAME_MAX = 100
"""Longest name (after trimming) of an account, server or API token."""
TOKEN_MAX = 512
DEFAULT_BASE_URL = "https://uptime.betterstack.com"
MAX_EXPIRY_AHEAD = timedelta(days=36_525)
"""Latest ``expires_at`` accepted, from now (100 years); ``null`` is "never"."""

T = TypeVar("T")

_MSGSPEC_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`")


class _Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class AccountCreate(_Body, frozen=True, kw_only=True):
    """``POST /integrated-account``."""

    integration: str
    name: str
    betterstack_token: str
    base_url: str = DEFAULT_BASE_URL
    team_name: str | None = None
    verify: bool = False


class ServerConfigBody(_Body, frozen=True, kw_only=True):
    """The ``config`` of an MCP server; absent fields keep their default (or current) value."""

    methods: list[str] | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET
    require_api_token_auth: bool | UnsetType = UNSET
    exclude_tags: list[str] | UnsetType = UNSET
    """Tools carrying any of these tags are withheld (e.g. ``["destructive"]``)."""
    exclude_tools: list[str] | UnsetType = UNSET
    """Tools withheld by name."""
    confirm: str | UnsetType = UNSET
    """``none``, ``destructive`` or ``writes``: which calls wait for a person's confirmation."""
    budgets: dict[str, str] | UnsetType = UNSET
    """Target (a tool name, ``read``, ``write`` or a method) → ``"3/h"``; ``{}`` removes all."""
    pin: dict[str, list[str | int]] | UnsetType = UNSET
    """An ``*_id`` parameter → the only values (digits) it may take; ``{}`` removes all."""
    reveal_secrets: bool | UnsetType = UNSET
    """Whether credential fields in results are shown (false: ``"[redacted]"``)."""
    provenance: bool | UnsetType = UNSET
    """Whether writes leave a note on the Better Stack timeline."""
    tool_exposure: str | UnsetType = UNSET
    """``all`` (every tool in ``tools/list``) or ``discovery`` (three meta-tools)."""


class ServerCreate(_Body, frozen=True, kw_only=True):
    """``POST /integrated-account/{id}/mcp``."""

    name: str
    config: ServerConfigBody = ServerConfigBody()
    expires_at: str | None = None


class ServerUpdate(_Body, frozen=True, kw_only=True):
    """``PATCH /integrated-account/{id}/mcp/{server_id}``: absent means unchanged, and
    ``"expires_at": null`` clears the expiry."""

    name: str | UnsetType = UNSET
    config: ServerConfigBody | UnsetType = UNSET
    expires_at: str | UnsetType | None = UNSET


class ApiTokenCreate(_Body, frozen=True, kw_only=True):
    """``POST /api-token``."""

    name: str


class AdminTokenCreate(_Body, frozen=True, kw_only=True):
    """``POST /admin-token``: the operator name the token stands for."""

    name: str


class FieldErrors:
    """Collects field problems; :meth:`raise_if_any` turns them into one error."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        """Record a problem with ``field`` (a dotted path such as ``config.tags``)."""
        self.fields.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        """Raise :class:`InvalidArgument` naming every field, if any problem was recorded."""
        if self.fields:
            names = ", ".join(self.fields)
            raise InvalidArgument(f"invalid request: check {names}", fields=self.fields)


def decode_body(body: bytes, type_: type[T]) -> T:
    """Decode a JSON request body into ``type_``.

    Raises:
        InvalidArgument: without fields for a body that is empty, not UTF-8, nested deeper
            than :data:`MAX_DEPTH`, not JSON, not a JSON object or repeating a key; with
            ``fields`` for a field of the wrong type (a number out of range included), a
            missing required field or an unknown field.
    """
    try:
        value = strictjson.check(body)
    except strictjson.JsonRefused as refused:
        raise InvalidArgument(f"the request body {refused.reason}") from None
    if not isinstance(value, dict):
        raise InvalidArgument("the request body must be a JSON object")
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        field, message = _explain(str(exc))
        raise InvalidArgument(
            f"invalid request: check {field}", fields={field: [message]}
        ) from None
    except msgspec.DecodeError:  # what the standard parser lets through: lone surrogates
        raise InvalidArgument(
            "the request body is not valid JSON text: a string holds a lone UTF-16 surrogate "
            "escape (\\uD800-\\uDFFF without its pair)"
        ) from None


def _explain(message: str) -> tuple[str, str]:
    at = _MSGSPEC_PATH.search(message)
    path = (at.group("path") if at else "").lstrip(".")
    text = message[: at.start()] if at else message
    for pattern, explain in ((_MISSING, "is required"), (_UNKNOWN, "is not a known field")):
        found = pattern.match(text)
        if found:
            name = found.group("name")
            return shown(f"{path}.{name}" if path else name), explain
    return shown(path) or "body", text.replace("`", "")


def check_name(errors: FieldErrors, field: str, value: str) -> str:
    """Trim ``value`` and check it is 1..100 printable characters; return the trimmed name."""
    name = value.strip()
    if not name:
        errors.add(field, "must not be empty")
    elif len(name) > NAME_MAX:
        errors.add(field, f"must be at most {NAME_MAX} characters (got {len(name)})")
    elif any(unicodedata.category(c).startswith("C") for c in name):
        errors.add(field, "must not contain control characters")
    return name


def check_base_url(errors: FieldErrors, value: str) -> str:
    """Check an ``http(s)://host[:port][/path]`` URL without credentials, query or fragment.

    Checked on the text itself, not only on what ``urlsplit`` makes of it: ``urlsplit`` reports
    no username for ``http://:pw@host`` and silently drops tabs and newlines.
    """
    url = value.strip()
    try:
        parts = urlsplit(url)
        valid = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and "@" not in parts.netloc  # no credentials, not even an empty user name
            and "?" not in url
            and "#" not in url
            and not any(c.isspace() or not c.isprintable() for c in url)
        )
        _ = parts.port  # raises for a non-numeric port
    except ValueError:
        valid = False
    if not valid:
        errors.add("base_url", "must be an http(s) URL such as https://uptime.betterstack.com")
    return url.rstrip("/")


def check_betterstack_token(errors: FieldErrors, value: str) -> str:
    """Check the Better Stack API token looks like one (never echoed back)."""
    token = value.strip()
    if not token:
        errors.add("betterstack_token", "must not be empty")
    elif len(token) > TOKEN_MAX:
        errors.add(
            "betterstack_token", f"must be at most {TOKEN_MAX} characters (got {len(token)})"
        )
    elif any(c.isspace() or not c.isprintable() for c in token):
        errors.add(
            "betterstack_token", "must be a single token without spaces, as Better Stack shows it"
        )
    return token


def parse_expires_at(
    errors: FieldErrors, value: str, now: datetime, min_ahead: float
) -> datetime | None:
    """Parse an ISO-8601 time with a zone, at least ``min_ahead`` seconds after ``now``."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        errors.add("expires_at", "must be an ISO-8601 time with a zone, e.g. 2026-12-01T09:00:00Z")
        return None
    if when.tzinfo is None or when.utcoffset() is None:
        errors.add("expires_at", "needs a time zone, e.g. 2026-12-01T09:00:00Z or +01:00")
        return None
    if when < now + timedelta(seconds=min_ahead):
        errors.add("expires_at", f"must be at least {min_ahead:g} seconds in the future")
        return None
    if when > now + MAX_EXPIRY_AHEAD:
        errors.add("expires_at", 'must be within 100 years; use null for "never expires"')
        return None
    return when
