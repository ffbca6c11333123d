"""Check tool-call arguments against an operation's parameters, without a JSON Schema engine.

Ids are accepted either way, ``"7"`` or ``7`` (:meth:`ArgumentValidator.normalise` turns them
into what the upstream wants before anything else looks at them).

:class:`ArgumentValidator` accepts exactly what the tool's input schema
(:func:`~stackmcp.betterstack_worker.catalog.schemas.input_schema`, JSON Schema 2020-12)
accepts, and also enforces the ``format`` of string params, which JSON Schema only annotates.
Everything (lookup tables, regexes, messages) is built once per operation; a call only walks
the arguments it was given.

Errors are keyed by the path of the offending value (``incident_id``, ``metadata.Service``,
``users[0]``, ``steps[1].wait_before``) and say what to fix, in a few words, never echoing
more than 40 characters of a value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import date
from functools import cache
from typing import Any, Final

from stackmcp.betterstack_worker.api import Operation, Page, Param

__all__ = ["ArgumentValidator", "FieldErrors"]

FieldErrors = dict[str, list[str]]
"""Error messages keyed by the path of the value they are about; empty when all is well."""

_Check = Callable[[Any, str, FieldErrors], None]
"""Checks the value found at a path and adds any errors under that path (or below it)."""

_ECHO_CHARS: Final = 40
_REQUIRED: Final = "is required"

_TYPE_WORDS: Final[Mapping[str, str]] = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "an array",
    "object": "an object",
}

_KIND_WORDS: Final[Mapping[type, str]] = {list: "an array", dict: "an object"}

_ID_MESSAGES: Final[Mapping[str, str]] = {
    r"^[0-9]+$": 'must be an id made of digits, e.g. "7" or 7',
    r"^([0-9]+|default)$": 'must be an id made of digits, e.g. "7" or 7, or "default"',
}

_PATTERN_MESSAGES: Final[Mapping[str, str]] = {
    **_ID_MESSAGES,
    r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$": (
        r'must match ^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$ (HH:MM:SS, e.g. "09:30:00")'
    ),
}

_DIGITS: Final = r"^[0-9]+$"
_ID_DIGITS: Final = re.compile(r"[0-9]{1,19}")
"""Digits an integer id is made of (at most 19, as a path id; longer ones are left as text)."""

_DATE_RE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_OFFSET: Final = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_CLOCK: Final = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
_DATE_TIME_RE: Final = re.compile(rf"([0-9]{{4}})-([0-9]{{2}})-([0-9]{{2}})[Tt]{_CLOCK}{_OFFSET}")
_TIME_RE: Final = re.compile(rf"{_CLOCK}{_OFFSET}?")
_EMAIL_RE: Final = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_URI_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")


def _real_date(match: re.Match[str] | None) -> bool:
    if match is None:
        return False
    try:
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def _is_date(value: str) -> bool:
    return _real_date(_DATE_RE.fullmatch(value))


def _is_date_time(value: str) -> bool:
    return _real_date(_DATE_TIME_RE.fullmatch(value))


def _is_time(value: str) -> bool:
    return _TIME_RE.fullmatch(value) is not None


def _is_email(value: str) -> bool:
    return _EMAIL_RE.fullmatch(value) is not None


def _is_uri(value: str) -> bool:
    return _URI_RE.fullmatch(value) is not None


_FORMATS: Final[Mapping[str, tuple[Callable[[str], bool], str]]] = {
    "date": (_is_date, 'must be a date as YYYY-MM-DD, e.g. "2024-05-31"'),
    "date-time": (
        _is_date_time,
        'must be an RFC 3339 date-time with seconds and offset, e.g. "2024-05-31T14:00:00Z"',
    ),
    "time": (_is_time, 'must be a time as HH:MM:SS, e.g. "14:00:00"'),
    "email": (_is_email, 'must be an e-mail address, e.g. "jane@example.com"'),
    "uri": (_is_uri, 'must be an absolute URI, e.g. "https://example.com/hook"'),
}


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_integer(value: Any) -> bool:
    if isinstance(value, int):
        return not isinstance(value, bool)
    return isinstance(value, float) and value.is_integer()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_boolean(value: Any) -> bool:
    return isinstance(value, bool)


def _is_array(value: Any) -> bool:
    return isinstance(value, list)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


_TYPE_TESTS: Final[Mapping[str, Callable[[Any], bool]]] = {
    "string": _is_string,
    "integer": _is_integer,
    "number": _is_number,
    "boolean": _is_boolean,
    "array": _is_array,
    "object": _is_object,
}


class ArgumentValidator:
    """Validates the arguments of one operation's tool calls.

    Build one per operation (at catalogue load) and reuse it: construction precomputes every
    lookup table, regex and message, so :meth:`validate` costs a few microseconds for a
    typical call. List operations also take ``limit`` (integer, 1 to the page's
    ``max_limit``) and ``next_cursor`` (string or null), as their input schema says.

    Raises:
        ValueError: a param names a ``format`` this validator does not know.
    """

    __slots__ = ("_checks", "_ids", "_names", "_required", "_unknown")

    def __init__(self, op: Operation) -> None:
        offered = tuple(p for p in op.params if not p.team_default)  # the account's team
        params = (*offered, *_paging_params(op.page)) if op.page is not None else offered
        self._checks: dict[str, _Check] = {p.name: _compile(p) for p in params}
        self._required: tuple[str, ...] = tuple(p.name for p in offered if p.required)
        self._names: tuple[str, ...] = tuple(sorted(self._checks))
        self._unknown: str = _unknown_message("argument", "this tool", self._names)
        self._ids: dict[str, _Convert] = {
            p.name: convert for p in offered if (convert := _id_converter(p)) is not None
        }

    @property
    def names(self) -> tuple[str, ...]:
        """The argument names the tool accepts, sorted."""
        return self._names

    def normalise(self, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        """``arguments`` with every valid id in the form the upstream wants it.

        An id may come as digits or as an integer (``"7"`` or ``7``); path ids become strings,
        other ids the :attr:`~stackmcp.betterstack_worker.api.Param.type` of their param
        (nested ones too, e.g. ``steps[0].step_members[1].id``). Anything that is not a valid
        id is left as it is, for :meth:`validate` to report; ``arguments`` itself is returned
        when the tool has no id params.
        """
        ids = self._ids
        if not ids or not any(name in ids for name in arguments):
            return arguments
        return {
            name: ids[name](value) if name in ids else value for name, value in arguments.items()
        }

    def validate(self, arguments: Mapping[str, Any]) -> FieldErrors:
        """Field errors of ``arguments`` keyed by path; an empty dict when they are valid."""
        errors: FieldErrors = {}
        checks = self._checks
        for name, value in arguments.items():
            check = checks.get(name)
            if check is None:
                errors[name] = [self._unknown]
            else:
                check(value, name, errors)
        for name in self._required:
            if name not in arguments:
                errors[name] = [_REQUIRED]
        return errors


def _paging_params(page: Page) -> tuple[Param, Param]:
    return (
        Param(
            name="limit",
            type="integer",
            description="Most items to return.",
            minimum=1,
            maximum=page.max_limit,
        ),
        Param(
            name="next_cursor",
            type="string",
            description="Opaque cursor from the previous result.",
            nullable=True,
        ),
    )


def _add(errors: FieldErrors, path: str, message: str) -> None:
    found = errors.get(path)
    if found is None:
        errors[path] = [message]
    else:
        found.append(message)


def _unknown_message(kind: str, owner: str, names: tuple[str, ...]) -> str:
    if not names:
        return f"unknown {kind}; {owner} takes no {kind}s"
    return f"unknown {kind}; {owner} takes: {', '.join(names)}"


def _echo(value: Any) -> str:
    """A short, JSON-like rendering of ``value`` for a message."""
    if isinstance(value, str):
        shown = value if len(value) <= _ECHO_CHARS else value[:_ECHO_CHARS] + "…"
        return json.dumps(shown, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 128 else "a very large integer"
    if isinstance(value, float):
        return repr(value)
    return _KIND_WORDS.get(type(value), "a value that is not JSON")


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    """The pattern compiled with ECMA-262 ``$``: the end of the string, not before a final \\n."""
    if pattern.endswith("$"):
        escapes = len(pattern) - 1 - len(pattern[:-1].rstrip("\\"))
        if escapes % 2 == 0:
            pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _compile(param: Param) -> _Check:
    """The check of one param's value, with every keyword that applies to its type."""
    if param.format is not None and param.format not in _FORMATS:
        raise ValueError(f"param {param.name!r}: unknown format {param.format!r}")
    return _id_check(param) if param.id_kind is not None else _typed_check(param)


def _typed_check(param: Param) -> _Check:
    """The check of a value of one JSON type (an id accepts two: see :func:`_id_check`)."""
    kind = param.type
    is_type = _TYPE_TESTS[kind]
    nullable = param.nullable
    expected = _TYPE_WORDS[kind] + (" or null" if nullable else "")
    checks: list[_Check] = []
    if param.enum:
        checks.append(_enum_check(param))
    if kind == "string":
        if param.pattern is not None:
            checks.append(_pattern_check(param.pattern))
        if param.format is not None:
            checks.append(_format_check(param.format))
    elif kind in ("integer", "number"):
        if param.minimum is not None:
            checks.append(_minimum_check(param.minimum))
        if param.maximum is not None:
            checks.append(_maximum_check(param.maximum))
    elif kind == "array":
        if param.min_items is not None:
            checks.append(_min_items_check(param.min_items))
        if param.items is not None:
            checks.append(_items_check(_compile(param.items)))
    elif kind == "object" and param.properties:
        checks.append(_members_check(param))
    rules = tuple(checks)

    def check(value: Any, path: str, errors: FieldErrors) -> None:
        if not is_type(value):
            if value is None and nullable:
                return
            _add(errors, path, f"must be {expected}, got {_echo(value)}")
            return
        for rule in rules:
            rule(value, path, errors)

    return check


def _id_check(param: Param) -> _Check:
    """An id: a string matching its pattern, or a non-negative integer (the schema's
    ``{"type": ["string", "integer"], "pattern": ..., "minimum": 0}``)."""
    pattern = param.pattern or _DIGITS
    search = _regex(pattern).search
    nullable = param.nullable
    shape = _ID_MESSAGES.get(pattern, f"must be an id matching {pattern} or an integer")

    def check(value: Any, path: str, errors: FieldErrors) -> None:
        if isinstance(value, str):
            ok = search(value) is not None
        elif _is_integer(value):
            ok = value >= 0
        else:
            ok = value is None and nullable
        if not ok:
            _add(errors, path, f"{shape}{' or null' if nullable else ''}; got {_echo(value)}")

    return check


_Convert = Callable[[Any], Any]
"""Turns a valid id (anywhere inside a value) into the form the upstream wants."""


def _id_converter(param: Param) -> _Convert | None:
    """How to put the ids in a value of ``param`` in upstream form, or ``None`` without ids."""
    if param.id_kind is not None:
        return _id_as_int if param.type == "integer" and param.location != "path" else _id_as_str
    if param.items is not None:
        element = _id_converter(param.items)
        if element is not None:
            return lambda value: [element(v) for v in value] if isinstance(value, list) else value
    members = {p.name: c for p in param.properties if (c := _id_converter(p)) is not None}
    if members:
        return lambda value: (
            {k: members[k](v) if k in members else v for k, v in value.items()}
            if isinstance(value, dict)
            else value
        )
    return None


def _id_as_str(value: Any) -> Any:
    if _is_integer(value) and value >= 0:
        return str(int(value))
    return value


def _id_as_int(value: Any) -> Any:
    if isinstance(value, str) and _ID_DIGITS.fullmatch(value):
        return int(value)
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return value


def _enum_check(param: Param) -> _Check:
    # JSON Schema equality: true is not 1, but 1.0 is 1 (which Python's == agrees with).
    choices = frozenset(e for e in param.enum if not isinstance(e, bool))
    flags = tuple(e for e in param.enum if isinstance(e, bool))
    shown = [str(e).lower() if isinstance(e, bool) else str(e) for e in param.enum]
    message = "must be one of: " + ", ".join(shown + (["null"] if param.nullable else []))

    def check(value: Any, path: str, errors: FieldErrors) -> None:
        if isinstance(value, bool):
            if value in flags:
                return
        elif isinstance(value, str | int | float) and value in choices:
            return
        _add(errors, path, f"{message}; got {_echo(value)}")

    return check


def _pattern_check(pattern: str) -> _Check:
    search = _regex(pattern).search
    message = _PATTERN_MESSAGES.get(pattern, f"must match the pattern {pattern}")

    def check(value: str, path: str, errors: FieldErrors) -> None:
        if search(value) is None:
            _add(errors, path, f"{message}; got {_echo(value)}")

    return check


def _format_check(name: str) -> _Check:
    test, message = _FORMATS[name]

    def check(value: str, path: str, errors: FieldErrors) -> None:
        if not test(value):
            _add(errors, path, f"{message}; got {_echo(value)}")

    return check


def _minimum_check(minimum: int) -> _Check:
    message = f"must be at least {minimum}"

    def check(value: float, path: str, errors: FieldErrors) -> None:
        if value < minimum:
            _add(errors, path, f"{message}, got {_echo(value)}")

    return check


def _maximum_check(maximum: int) -> _Check:
    message = f"must be at most {maximum}"

    def check(value: float, path: str, errors: FieldErrors) -> None:
        if value > maximum:
            _add(errors, path, f"{message}, got {_echo(value)}")

    return check


def _min_items_check(min_items: int) -> _Check:
    message = "must not be empty" if min_items == 1 else f"must have at least {min_items} items"

    def check(value: list[Any], path: str, errors: FieldErrors) -> None:
        if len(value) < min_items:
            _add(errors, path, message)

    return check


def _items_check(item: _Check) -> _Check:
    def check(value: list[Any], path: str, errors: FieldErrors) -> None:
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]", errors)

    return check


def _members_check(param: Param) -> _Check:
    """Known members are checked and required ones must be there; a closed object also
    rejects members it does not know (as in
    :func:`~stackmcp.betterstack_worker.catalog.schemas.param_schema`).
    """
    members = {p.name: _compile(p) for p in param.properties}
    closed = not param.open_object
    required = tuple(p.name for p in param.properties if p.required)
    unknown = _unknown_message("member", "this object", tuple(sorted(members)))

    def check(value: dict[str, Any], path: str, errors: FieldErrors) -> None:
        for key, member in value.items():
            sub = members.get(key)
            if sub is not None:
                sub(member, f"{path}.{key}", errors)
            elif closed:
                _add(errors, f"{path}.{key}", unknown)
        for name in required:
            if name not in value:
                _add(errors, f"{path}.{name}", _REQUIRED)

    return check
