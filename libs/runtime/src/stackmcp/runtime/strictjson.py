"""The one strict reading of JSON a client sent: what every HTTP boundary checks first.

msgspec, which decodes bodies afterwards, is fast but lenient where a hostile body can cost the
process or fool a reader: it keeps the last of repeated keys without a word, recurses into any
depth, and reads a number of any size. :func:`check` refuses, in this order, an empty body, bytes
that are not UTF-8, nesting deeper than :data:`MAX_DEPTH` (counted on the raw bytes, without
recursion), a key repeated in one object (two readers could resolve it differently), ``NaN`` and
``Infinity``, and anything that is not JSON. Numbers are left unconverted here: their size is
judged by whoever decodes them into a type. Reasons are phrased to follow "the body" in a
message a person reads, and repeat at most 64 printable characters of a client's key.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "JsonRefused", "check", "nesting_depth", "shown"]

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted."""

_SHOWN_MAX = 64
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = frozenset(b"[{")


class JsonRefused(ValueError):
    """A body refused by :func:`check`; ``reason`` follows "the body" in a message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check(body: bytes) -> Any:
    """The body's JSON value (numbers as zeros), once it passed every check of the module
    docstring; decode it with msgspec for the real values.

    Raises:
        JsonRefused: with the first reason found.
    """
    if not body.strip():
        raise JsonRefused("is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"is not valid UTF-8 (byte {exc.start}); send UTF-8 JSON") from None
    if (body.count(b"[") + body.count(b"{") > MAX_DEPTH) and nesting_depth(body) > MAX_DEPTH:
        raise JsonRefused(f"nests deeper than {MAX_DEPTH} levels")
    try:
        return _READER.decode(text)
    except _RepeatedKey as exc:
        raise JsonRefused(
            f"repeats the key '{shown(exc.key)}' in one object; send each key once"
        ) from None
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except ValueError as exc:  # NaN, Infinity
        raise JsonRefused(f"is not valid JSON ({exc})") from None


def nesting_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings not counted).

    Linear in the body's length and without recursion, so it is safe on any input.
    """
    brackets = _JSON_STRING.sub(b'""', body).translate(None, _NOT_BRACKET)
    depth = deepest = 0
    for bracket in brackets:
        if bracket in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def shown(key: str) -> str:
    """A client-chosen key as messages and logs may repeat it: printable, at most 64 characters."""
    head = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in key[:_SHOWN_MAX])
    return f"{head}…" if len(key) > _SHOWN_MAX else head


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


_READER = json.JSONDecoder(
    object_pairs_hook=_unique_keys,
    parse_int=lambda _: 0,  # sizes are judged by whoever decodes into a type
    parse_float=lambda _: 0.0,
    parse_constant=_no_constant,
)
