"""What a grant allows beyond methods and tags: exclusions, pins, confirmation and budgets.

Shared by the gateway (which enforces it on ``tools/list`` and ``tools/call``), the worker (which
re-checks every call), provisioning (which validates it and previews it) and the CLI.

Order of the rules, for one tool:

1. ``methods`` AND (any-of) ``tags`` (:func:`~stackmcp.contracts.filters.tool_matches`);
2. ``exclude_tags`` and ``exclude_tools`` remove what they name;
3. ``pin``: a tool with a pinned parameter stays, limited to the pinned values (its schema lists
   them and the parameter becomes required); a **write** without that parameter could act outside
   the pinned values and is withheld; a read without it stays (a list of the pinned resource
   itself is filtered to the pinned ids by the worker).

Tools removed in steps 2 and 3 are *withheld*: :func:`expose` says why, so ``tools/list`` and
the console preview can show it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from stackmcp.contracts.filters import canonical_tags, tool_matches
from stackmcp.contracts.grants import Budget, ConfirmMode, Grant, Pin
from stackmcp.contracts.tools import ToolDescriptor

__all__ = [
    "BUDGET_UNITS",
    "Exposure",
    "budget_text",
    "budgets_for",
    "canonical_arguments",
    "expose",
    "needs_confirmation",
    "parse_budget",
    "pin_problem",
    "pinned_schema",
]

BUDGET_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
"""Window units of a budget such as ``3/h``."""
_BUDGET_RE = re.compile(r"^\s*(\d{1,7})\s*/\s*(\d{0,5})\s*([smhd])\s*$")
MAX_BUDGET_WINDOW = 7 * 86400
"""Longest budget window (a week)."""


class Exposure(msgspec.Struct, frozen=True, kw_only=True):
    """The tools a grant exposes, and those its exclusions and pins withhold, with why."""

    tools: tuple[ToolDescriptor, ...]
    withheld: dict[str, str]
    """Tool name → the reason, for tools the methods and tags match but the grant removes."""


def expose(tools: Iterable[ToolDescriptor], grant: Grant) -> Exposure:
    """Apply every rule of ``grant`` to ``tools`` (see the module docstring); pinned tools come
    back with their pinned input schema."""
    kept: list[ToolDescriptor] = []
    withheld: dict[str, str] = {}
    excluded_tags = set(canonical_tags(grant.exclude_tags))
    excluded_tools = set(grant.exclude_tools)
    for tool in tools:
        if not tool_matches(tool, grant.methods, grant.tags):
            continue
        reason = _withheld_reason(tool, excluded_tags, excluded_tools, grant.pin)
        if reason is not None:
            withheld[tool.name] = reason
            continue
        pinned = [p for p in grant.pin if p.param in _properties(tool)]
        kept.append(_pin_tool(tool, pinned) if pinned else tool)
    return Exposure(tools=tuple(kept), withheld=withheld)


def _withheld_reason(
    tool: ToolDescriptor, excluded_tags: set[str], excluded_tools: set[str], pins: Iterable[Pin]
) -> str | None:
    if tool.name in excluded_tools:
        return "excluded by name (exclude_tools)"
    hit = excluded_tags.intersection(canonical_tags(tool.tags))
    if hit:
        return f"excluded by tag {sorted(hit)[0]!r} (exclude_tags)"
    if tool.method_class == "write":
        for pin in pins:
            if pin.param not in _properties(tool):
                return (
                    f"changes something without naming {pin.param}, so it could act outside "
                    f"the pinned {pin.param} {', '.join(pin.values)}"
                )
    return None


def _properties(tool: ToolDescriptor) -> Mapping[str, Any]:
    props = tool.input_schema.get("properties")
    return props if isinstance(props, dict) else {}


def _pin_tool(tool: ToolDescriptor, pins: list[Pin]) -> ToolDescriptor:
    return msgspec.structs.replace(tool, input_schema=pinned_schema(tool.input_schema, pins))


def pinned_schema(schema: Mapping[str, Any], pins: Iterable[Pin]) -> dict[str, Any]:
    """``schema`` with each pinned parameter limited to its values and required."""
    result = copy.deepcopy(dict(schema))
    props = result.get("properties", {})
    required = list(result.get("required", []))
    for pin in pins:
        prop = props.get(pin.param)
        if not isinstance(prop, dict):
            continue
        prop["enum"] = _typed_values(prop, pin.values)
        note = f" This MCP server is limited to {pin.param} {', '.join(pin.values)}."
        prop["description"] = str(prop.get("description", "")) + note
        if pin.param not in required:
            required.append(pin.param)
    if required:
        result["required"] = required
    return result


def _typed_values(prop: Mapping[str, Any], values: tuple[str, ...]) -> list[Any]:
    """The pinned values as the parameter's schema takes them: an id that accepts digits or
    an integer lists both forms (``"7"`` and ``7``), so a client validating against the enum
    accepts either."""
    types = prop.get("type")
    kinds = set(types) if isinstance(types, list) else {types}
    numeric = bool(kinds & {"integer", "number"})
    if "string" not in kinds and numeric:
        return [int(v) if _is_digits(v) else v for v in values]
    if not numeric:
        return list(values)
    return [form for v in values for form in ((v, int(v)) if _is_digits(v) else (v,))]


def _is_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def pin_problem(
    tool: ToolDescriptor, arguments: Mapping[str, Any], pins: Iterable[Pin]
) -> str | None:
    """Why ``arguments`` fall outside the pins, or ``None`` when they are inside.

    A pinned parameter the tool has must be given and be one of the pinned values (an integer
    and its digits count as the same value).
    """
    props = _properties(tool)
    for pin in pins:
        if pin.param not in props:
            continue
        value = arguments.get(pin.param)
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON's 7.0 is the integer 7
        if value is None:
            return f"{pin.param} is required on this MCP server: use {_either(pin.values)}"
        if isinstance(value, bool) or not isinstance(value, str | int):
            return f"{pin.param} must be {_either(pin.values)}"
        if str(value) not in pin.values:
            return (
                f"this MCP server may act only on {pin.param} {_either(pin.values)}, "
                f"not {str(value)[:40]}"
            )
    return None


def _either(values: tuple[str, ...]) -> str:
    return " or ".join(values)


def needs_confirmation(tool: ToolDescriptor, mode: ConfirmMode) -> bool:
    """Whether a call of ``tool`` waits for a person's confirmation under ``mode``."""
    if mode == "writes":
        return tool.method_class == "write"
    if mode == "destructive":
        return tool.method_class == "write" and (
            "destructive" in tool.tags or bool(tool.annotations.destructiveHint)
        )
    return False


def budgets_for(tool: ToolDescriptor, budgets: Iterable[Budget]) -> tuple[Budget, ...]:
    """The budgets a call of ``tool`` counts against."""
    names = {tool.name, tool.method_class, tool.method}
    return tuple(b for b in budgets if b.target in names)


def parse_budget(target: str, text: str) -> Budget:
    """``"3/h"`` (or ``"10/30m"``) as a :class:`Budget` for ``target``.

    Raises:
        ValueError: the text is not ``<count>/<window>`` with a unit of s, m, h or d, the count
            is 0 or the window is longer than a week; the message says which.
    """
    found = _BUDGET_RE.match(text)
    if found is None:
        raise ValueError(
            'must look like "3/h": a count, "/", then a unit of s, m, h or d (e.g. "10/30m")'
        )
    count, amount, unit = int(found.group(1)), found.group(2), found.group(3)
    window = (int(amount) if amount else 1) * BUDGET_UNITS[unit]
    if count < 1:
        raise ValueError("must allow at least 1 call")
    if not 1 <= window <= MAX_BUDGET_WINDOW:
        raise ValueError("the window must be between 1 second and 7 days")
    return Budget(target=target, limit=count, window=window)


def budget_text(budget: Budget) -> str:
    """A budget in the form it is written, e.g. ``3/h`` or ``10/30m``."""
    for unit, seconds in sorted(BUDGET_UNITS.items(), key=lambda kv: -kv[1]):
        if budget.window % seconds == 0:
            amount = budget.window // seconds
            return f"{budget.limit}/{'' if amount == 1 else amount}{unit}"
    return f"{budget.limit}/{budget.window}s"  # pragma: no cover - seconds always divide


def canonical_arguments(arguments: Mapping[str, Any]) -> bytes:
    """The arguments as canonical JSON (sorted keys): equal arguments, equal bytes.

    Integers are written as their digits, so an id given as ``7`` and as ``"7"`` (which tools
    accept alike) names the same call; a parameter that takes only one of the two refuses the
    other, so no two different calls share the bytes.
    """
    return msgspec.json.encode(_ints_as_text(arguments), order="sorted")


def _ints_as_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return {key: _ints_as_text(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_ints_as_text(item) for item in value]
    return value
