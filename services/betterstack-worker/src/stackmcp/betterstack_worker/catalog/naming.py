"""Tool names, titles, tags and method classes, derived from an operation.

Names follow the pattern users know from the seed product: ``list_all_better_stack_<plural>``,
``get_single_better_stack_<singular>_by_id``, ``create_a_better_stack_<singular>``,
``update_a_better_stack_<singular>_by_id``, ``delete_a_better_stack_<singular>_by_id`` and
``better_stack_<plural>_<action>`` for custom actions.
"""

from __future__ import annotations

import re

from stackmcp.betterstack_worker.api import STANDARD_METHODS, Operation
from stackmcp.contracts.tools import MethodClass

__all__ = ["DESTRUCTIVE_TAG", "NAME_RE", "method_class", "tool_name", "tool_tags", "tool_title"]

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""Accepted tool names: MCP's character set, at most 64 characters (the strictest clients)."""
DESTRUCTIVE_TAG = "destructive"

_PATTERNS = {
    "list": "list_all_better_stack_{plural}",
    "get": "get_single_better_stack_{singular}_by_id",
    "create": "create_a_better_stack_{singular}",
    "update": "update_a_better_stack_{singular}_by_id",
    "delete": "delete_a_better_stack_{singular}_by_id",
}
_VERBS = {"list": "List", "get": "Get", "create": "Create", "update": "Update", "delete": "Delete"}


def tool_name(op: Operation) -> str:
    """The tool name of ``op``."""
    pattern = _PATTERNS.get(op.method, "better_stack_{plural}_{method}")
    return pattern.format(
        plural=op.resource.plural, singular=op.resource.singular, method=op.method
    )


def tool_title(op: Operation) -> str:
    """A short human title, e.g. ``List incidents`` or ``Acknowledge incident``."""
    if op.title:
        return op.title
    if op.method == "list":
        return f"List {_words(op.resource.plural)}"
    if op.method in STANDARD_METHODS:
        return f"{_VERBS[op.method]} {op.resource.label}"
    return f"{_words(op.method).capitalize()} {op.resource.label}"


def method_class(op: Operation) -> MethodClass:
    """``read`` for operations that change nothing, ``write`` for every other one."""
    return "read" if op.read else "write"


def tool_tags(op: Operation) -> tuple[str, ...]:
    """Resource tags, then method-level tags (``destructive`` first when it applies)."""
    tags = [*op.resource.tags]
    if op.destructive:
        tags.append(DESTRUCTIVE_TAG)
    tags.extend(op.method_tags)
    return tuple(dict.fromkeys(tags))


def _words(snake: str) -> str:
    return snake.replace("_", " ").replace("on call", "on-call")
