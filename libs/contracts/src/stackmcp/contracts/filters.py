"""The method/tag filter of a grant, shared by the gateway, the worker, provisioning and the CLI.

Rule (DESIGN §2): a tool is exposed when it matches the ``methods`` filter AND, if ``tags`` is
not empty, carries at least one of the ``tags``. ``methods`` terms are:

- ``read``: tools whose method class is ``read`` (list, get and read-only custom actions such as
  availability or get_rotation);
- ``write``: tools whose method class is ``write`` (create, update, delete and every custom
  action that changes something);
- ``custom``: custom actions only (anything but list/get/create/update/delete), read or write;
- an exact method name such as ``list`` or ``acknowledge``.

An empty ``methods`` filter matches nothing: a grant that forgot its methods fails closed.
Tags are resource tags (``incidents``, ``on_call``) and method-level tags (``destructive``).
Tags are compared in their canonical spelling (:mod:`stackmcp.contracts.tagnames`): the old
``on-call`` still matches the ``on_call`` tools, in filters typed today and in stored grants.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from stackmcp.contracts.tagnames import canonical_tag, canonical_tags
from stackmcp.contracts.tools import ToolDescriptor

__all__ = [
    "METHOD_CLASSES",
    "STANDARD_METHODS",
    "FilterProblems",
    "canonical_tag",
    "canonical_tags",
    "check_filter",
    "filter_tools",
    "known_methods",
    "known_tags",
    "tool_matches",
]

METHOD_CLASSES = frozenset({"read", "write", "custom"})
"""Filter terms that stand for a group of methods."""
STANDARD_METHODS = frozenset({"list", "get", "create", "update", "delete"})
"""Methods that are not custom actions."""


class FilterProblems(msgspec.Struct, frozen=True, kw_only=True):
    """Filter terms that name nothing in a catalogue (provisioning answers 422 naming them)."""

    unknown_methods: tuple[str, ...] = ()
    unknown_tags: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        """True when there is at least one unknown term."""
        return bool(self.unknown_methods or self.unknown_tags)

    def message(self) -> str:
        """A one-line explanation naming every unknown term."""
        parts = []
        if self.unknown_methods:
            parts.append("unknown methods: " + ", ".join(self.unknown_methods))
        if self.unknown_tags:
            parts.append("unknown tags: " + ", ".join(self.unknown_tags))
        return "; ".join(parts)


def tool_matches(tool: ToolDescriptor, methods: Iterable[str], tags: Iterable[str] = ()) -> bool:
    """Whether ``tool`` is exposed under the ``methods`` AND (any-of) ``tags`` filter."""
    return _tags_match(tool, _wanted(tags)) and any(
        _method_term_matches(tool, term) for term in methods
    )


def filter_tools(
    tools: Iterable[ToolDescriptor], methods: Iterable[str], tags: Iterable[str] = ()
) -> tuple[ToolDescriptor, ...]:
    """The tools exposed under the filter, in their original order."""
    method_terms = tuple(methods)
    wanted = _wanted(tags)
    return tuple(
        t
        for t in tools
        if _tags_match(t, wanted) and any(_method_term_matches(t, m) for m in method_terms)
    )


def check_filter(
    tools: Iterable[ToolDescriptor], methods: Iterable[str], tags: Iterable[str] = ()
) -> FilterProblems:
    """Report the ``methods`` and ``tags`` terms that name nothing in ``tools``.

    Unknown terms keep their first-seen order and appear once each; a tag's other spelling
    (``on-call`` for ``on_call``) is known.
    """
    catalogue = tuple(tools)
    valid_methods = METHOD_CLASSES | known_methods(catalogue)
    valid_tags = known_tags(catalogue)
    return FilterProblems(
        unknown_methods=tuple(dict.fromkeys(m for m in methods if m not in valid_methods)),
        unknown_tags=tuple(dict.fromkeys(t for t in tags if canonical_tag(t) not in valid_tags)),
    )


def known_methods(tools: Iterable[ToolDescriptor]) -> frozenset[str]:
    """Every exact method name used by ``tools``."""
    return frozenset(t.method for t in tools)


def known_tags(tools: Iterable[ToolDescriptor]) -> frozenset[str]:
    """Every tag carried by ``tools``, in the canonical spelling."""
    return frozenset(canonical_tag(tag) for t in tools for tag in t.tags)


def _wanted(tags: Iterable[str]) -> frozenset[str]:
    return frozenset(canonical_tags(tags))


def _tags_match(tool: ToolDescriptor, wanted: frozenset[str]) -> bool:
    """No tag filter, or ``tool`` carries one of ``wanted`` (both sides canonical)."""
    return not wanted or any(canonical_tag(tag) in wanted for tag in tool.tags)


def _method_term_matches(tool: ToolDescriptor, term: str) -> bool:
    if term in ("read", "write"):
        return tool.method_class == term
    if term == "custom":
        return tool.method not in STANDARD_METHODS
    return tool.method == term
