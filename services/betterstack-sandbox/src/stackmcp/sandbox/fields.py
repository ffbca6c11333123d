"""Declarative attribute tables: field kinds, defaults, and lenient coercion of request values."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, NamedTuple

from stackmcp.sandbox.errors import BLANK, ApiError, field_error

__all__ = ["Field", "apply_body", "check_required", "coerce", "defaults", "is_blank"]


class Field(NamedTuple):
    """One writable attribute: its kind and its value when not sent on create."""

    kind: str
    """One of ``str int float bool list dict any`` or ``idstr`` (an id kept as a string)."""
    default: Any = None


_MESSAGES = {
    "str": "must be a string",
    "int": "must be an integer",
    "float": "must be a number",
    "bool": "must be a boolean",
    "list": "must be an array",
    "dict": "must be an object",
    "idstr": "must be an id",
}


def coerce(name: str, kind: str, value: Any) -> Any:
    """Convert ``value`` to ``kind`` the lenient way Rails does, or raise the 422."""
    if value is None or kind == "any":
        return value
    result = _convert(kind, value)
    if result is _INVALID:
        raise field_error(name, _MESSAGES.get(kind, "is invalid"))
    return result


_INVALID = object()


def _convert(kind: str, value: Any) -> Any:  # noqa: PLR0911 - one branch per kind
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "str":
        return value if isinstance(value, str) else str(value) if is_number else _INVALID
    if kind in ("int", "idstr"):
        number = _to_int(value)
        if number is None:
            return _INVALID
        return str(number) if kind == "idstr" else number
    if kind == "float":
        if is_number:
            return float(value)
        try:
            return float(value) if isinstance(value, str) else _INVALID
        except ValueError:
            return _INVALID
    if kind == "bool":
        if isinstance(value, bool):
            return value
        lowered = str(value).lower()
        return {"true": True, "false": False, "1": True, "0": False}.get(lowered, _INVALID)
    if kind == "list":
        return value if isinstance(value, list) else _INVALID
    if kind == "dict":
        return value if isinstance(value, dict) else _INVALID
    return value


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def defaults(fields: Mapping[str, Field]) -> dict[str, Any]:
    """Fresh (deep-copied) default values of every field."""
    return {name: copy.deepcopy(spec.default) for name, spec in fields.items()}


def apply_body(row: dict[str, Any], body: Mapping[str, Any], fields: Mapping[str, Field]) -> None:
    """Copy the known fields of ``body`` into ``row``, coerced; unknown keys are ignored."""
    for name, value in body.items():
        spec = fields.get(name)
        if spec is not None:
            row[name] = coerce(name, spec.kind, value)


def check_required(row: Mapping[str, Any], required: tuple[str, ...]) -> None:
    """Raise one 422 listing ``Can't be blank.`` for every required field that is empty."""
    missing = {name: [BLANK] for name in required if is_blank(row.get(name))}
    if missing:
        raise ApiError(422, missing)


def is_blank(value: Any) -> bool:
    """Rails' ``blank?``: None, empty string (after strip) or empty list/dict."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | dict) and not value)
