"""An MCP server's ``config``: applied to its grant, checked against the tool catalogue, and
compared for the audit trail's ``changes``.

Two passes, so every problem of one request is reported at once: :func:`apply_config` reads the
body (trims, de-duplicates, parses budgets and pinned values) and :func:`check_config` checks
what it names against the catalogue, ending with the one question that matters: does the server
expose any tool at all (:func:`~stackmcp.contracts.policy.expose`, the gateway's own rule)?
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from msgspec import UNSET
from msgspec.structs import replace

from stackmcp.contracts.filters import check_filter, filter_tools, known_methods, known_tags
from stackmcp.contracts.grants import (
    CONFIRM_MODES,
    TOOL_EXPOSURES,
    Budget,
    ConfirmMode,
    Grant,
    Pin,
    ToolExposure,
)
from stackmcp.contracts.policy import budget_text, expose, parse_budget
from stackmcp.contracts.tools import ToolDescriptor
from stackmcp.provisioning.bodies import FieldErrors, ServerConfigBody
from stackmcp.runtime.strictjson import shown

__all__ = [
    "MAX_PIN_VALUES",
    "PIN_VALUE_DIGITS",
    "apply_config",
    "budget_map",
    "check_config",
    "config_changes",
    "pin_map",
    "pinnable_params",
    "plain_reason",
]

MAX_PIN_VALUES = 50
"""Most values one pinned parameter may take."""
PIN_VALUE_DIGITS = 20
"""Longest pinned value (Better Stack ids are 64-bit integers: at most 20 digits)."""
_PIN_VALUE = re.compile(rf"[0-9]{{1,{PIN_VALUE_DIGITS}}}")
_BUDGET_CLASSES = ("read", "write")
_API_NOTE = re.compile(r" \((?:exclude_tags|exclude_tools)\)$")
_CONFIG_FIELDS = (
    "methods", "tags", "require_api_token_auth", "exclude_tags", "exclude_tools", "confirm",
    "budgets", "pin", "reveal_secrets", "provenance", "tool_exposure",
)  # fmt: skip


def apply_config(errors: FieldErrors, config: ServerConfigBody, grant: Grant) -> Grant:
    """``grant`` with the fields ``config`` sets; problems that need no catalogue (the confirm
    mode, the tool exposure, budget texts, pinned values) go to ``errors`` and leave that
    field as it was."""
    values: dict[str, Any] = {}
    for name in ("methods", "tags", "exclude_tags", "exclude_tools"):
        terms = getattr(config, name)
        if terms is not UNSET:
            values[name] = _terms(terms)
    for name in ("require_api_token_auth", "reveal_secrets", "provenance"):
        flag = getattr(config, name)
        if flag is not UNSET:
            values[name] = flag
    if config.confirm is not UNSET:
        if config.confirm in CONFIRM_MODES:
            values["confirm"] = cast(ConfirmMode, config.confirm)
        else:
            errors.add("config.confirm", f"must be one of {', '.join(CONFIRM_MODES)}")
    if config.tool_exposure is not UNSET:
        if config.tool_exposure in TOOL_EXPOSURES:
            values["tool_exposure"] = cast(ToolExposure, config.tool_exposure)
        else:
            errors.add(
                "config.tool_exposure",
                f"must be one of {', '.join(TOOL_EXPOSURES)} (discovery: tools/list shows "
                "search_tools, get_tool_schema and call_tool instead of every tool)",
            )
    if config.budgets is not UNSET:
        values["budgets"] = _budgets(errors, config.budgets)
    if config.pin is not UNSET:
        values["pin"] = _pins(errors, config.pin)
    return replace(grant, **values)


def _terms(terms: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in terms if t.strip()))


def _budgets(errors: FieldErrors, raw: Mapping[str, str]) -> tuple[Budget, ...]:
    budgets: list[Budget] = []
    for target, text in raw.items():
        try:
            budgets.append(parse_budget(target, text))
        except ValueError as exc:
            errors.add(f"config.budgets.{shown(target)}", str(exc))
    return tuple(budgets)


def _pins(errors: FieldErrors, raw: Mapping[str, Sequence[str | int]]) -> tuple[Pin, ...]:
    pins: list[Pin] = []
    for param, given in raw.items():
        field = f"config.pin.{shown(param)}"
        texts = [str(v) if isinstance(v, int) else v.strip() for v in given]
        bad = [t for t in texts if not _PIN_VALUE.fullmatch(t)]
        values = tuple(dict.fromkeys(texts))
        if bad:
            shown_bad = ", ".join(repr(shown(t)) for t in bad[:5])
            errors.add(
                field,
                f'values must be ids made of 1 to {PIN_VALUE_DIGITS} digits, e.g. "7" '
                f"(got {shown_bad})",
            )
        elif not 1 <= len(values) <= MAX_PIN_VALUES:
            errors.add(field, f"needs 1 to {MAX_PIN_VALUES} values (got {len(values)})")
        else:
            pins.append(Pin(param=param, values=values))
    return tuple(pins)


def pinnable_params(tools: Iterable[ToolDescriptor]) -> frozenset[str]:
    """Every ``*_id`` parameter some tool of the catalogue takes (what ``pin`` may name)."""
    return frozenset(name for tool in tools for name in _properties(tool) if name.endswith("_id"))


def _properties(tool: ToolDescriptor) -> Mapping[str, Any]:
    props = tool.input_schema.get("properties")
    return props if isinstance(props, dict) else {}


def check_config(errors: FieldErrors, tools: Sequence[ToolDescriptor], grant: Grant) -> None:
    """Check what ``grant`` names against the catalogue ``tools``, then that it exposes a tool.

    The "exposes nothing" check runs only when no ``config`` field is wrong: its explanation
    would otherwise be about a configuration the server will never have.
    """
    if not grant.methods:
        errors.add(
            "config.methods",
            "choose at least one method: read, write, or a method such as list or acknowledge",
        )
        return
    _check_filter_terms(errors, tools, grant)
    _check_exclusions(errors, tools, grant)
    _check_budget_targets(errors, tools, grant.budgets)
    _check_pin_params(errors, tools, grant.pin)
    if not any(f == "config" or f.startswith("config.") for f in errors.fields):
        problem = _exposes_nothing(tools, grant)
        if problem:
            errors.add("config", problem)


def _check_filter_terms(errors: FieldErrors, tools: Sequence[ToolDescriptor], grant: Grant) -> None:
    problems = check_filter(tools, grant.methods, grant.tags)
    if problems.unknown_methods:
        known = "read, write, custom or a method name such as list, get, acknowledge"
        errors.add(
            "config.methods",
            f"unknown methods: {', '.join(problems.unknown_methods)} (use {known})",
        )
    if problems.unknown_tags:
        errors.add("config.tags", _unknown_tags(problems.unknown_tags, tools))


def _unknown_tags(unknown: Iterable[str], tools: Sequence[ToolDescriptor]) -> str:
    known = ", ".join(sorted(known_tags(tools)))
    return f"unknown tags: {', '.join(shown(t) for t in unknown)} (known: {known})"


def _check_exclusions(errors: FieldErrors, tools: Sequence[ToolDescriptor], grant: Grant) -> None:
    tags = known_tags(tools)
    unknown_tags = [t for t in grant.exclude_tags if t not in tags]
    if unknown_tags:
        errors.add("config.exclude_tags", _unknown_tags(unknown_tags, tools))
    names = {t.name for t in tools}
    unknown_tools = [t for t in grant.exclude_tools if t not in names]
    if unknown_tools:
        listed = ", ".join(shown(t) for t in unknown_tools[:10])
        more = f" and {len(unknown_tools) - 10} more" if len(unknown_tools) > 10 else ""
        errors.add(
            "config.exclude_tools",
            f"not tools of the catalogue: {listed}{more} (`stackmcp catalog` lists their names)",
        )


def _check_budget_targets(
    errors: FieldErrors, tools: Sequence[ToolDescriptor], budgets: Iterable[Budget]
) -> None:
    valid = {t.name for t in tools} | set(_BUDGET_CLASSES) | known_methods(tools)
    for budget in budgets:
        if budget.target not in valid:
            errors.add(
                f"config.budgets.{shown(budget.target)}",
                "is not a tool name, read, write or a method of the catalogue "
                "(e.g. better_stack_incidents_resolve, write or resolve)",
            )


def _check_pin_params(
    errors: FieldErrors, tools: Sequence[ToolDescriptor], pins: Iterable[Pin]
) -> None:
    params = pinnable_params(tools)
    for pin in pins:
        if pin.param not in params:
            errors.add(
                f"config.pin.{shown(pin.param)}",
                "no tool takes this id parameter; pin one of: " + ", ".join(sorted(params)),
            )


def _exposes_nothing(tools: Sequence[ToolDescriptor], grant: Grant) -> str | None:
    matched = filter_tools(tools, grant.methods, grant.tags)
    if not matched:
        return f"this filter matches no tool: {_no_match(grant)}; widen the methods or the tags"
    exposure = expose(matched, grant)
    if exposure.tools:
        return None
    reasons = Counter(_API_NOTE.sub("", r) for r in exposure.withheld.values())
    why = "; ".join(
        f"{count} {'tool' if count == 1 else 'tools'}: {reason}"
        for reason, count in reasons.most_common(3)
    )
    return (
        f"this server would expose no tool: the {len(matched)} tools its methods and tags "
        f"match are all withheld ({why}); exclude or pin less, or widen the methods or the tags"
    )


def _no_match(grant: Grant) -> str:
    """Why a filter matches nothing, in words: ``no read tool carries the tag destructive``."""
    methods = " or ".join(grant.methods)
    if not grant.tags:
        return f"the catalogue has no {methods} tool"
    tags = (
        f"the tag {grant.tags[0]}"
        if len(grant.tags) == 1
        else f"any of the tags {', '.join(grant.tags)}"
    )
    return f"no {methods} tool carries {tags}"


def plain_reason(reason: str) -> str:
    """Why a tool is withheld as a sentence for people, without the API field it comes from."""
    text = _API_NOTE.sub("", reason)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def budget_map(budgets: Iterable[Budget]) -> dict[str, str]:
    """Budgets as the API writes them: target → ``"3/h"``."""
    return {b.target: budget_text(b) for b in budgets}


def pin_map(pins: Iterable[Pin]) -> dict[str, list[str]]:
    """Pins as the API writes them: parameter → values."""
    return {p.param: list(p.values) for p in pins}


def config_changes(before: Grant, after: Grant) -> dict[str, Any]:
    """The ``config`` fields an update changed, with their new values as the API writes them."""
    changes: dict[str, Any] = {}
    for name in _CONFIG_FIELDS:
        old, new = getattr(before, name), getattr(after, name)
        if old == new:
            continue
        if name == "budgets":
            changes[name] = budget_map(new)
        elif name == "pin":
            changes[name] = pin_map(new)
        else:
            changes[name] = list(new) if isinstance(new, tuple) else new
    return changes
