"""What a method/tag filter exposes, for the create and edit forms' live preview.

The rule is the one the gateway enforces (:func:`~stackmcp.contracts.filters.filter_tools`), so
the preview cannot drift from what the minted URL will list.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from stackmcp.contracts.filters import (
    STANDARD_METHODS,
    check_filter,
    filter_tools,
    known_methods,
    known_tags,
)
from stackmcp.contracts.mcp_tools import estimate_tokens
from stackmcp.contracts.tools import ToolDescriptor

__all__ = ["FilterChoices", "FilterPreview", "PreviewRow", "filter_choices", "preview_filter"]


class PreviewRow(msgspec.Struct, frozen=True, kw_only=True):
    """One tool the filter exposes, with what listing it costs."""

    name: str
    title: str
    method: str
    method_class: str
    tags: tuple[str, ...]
    tokens: int


class FilterPreview(msgspec.Struct, frozen=True, kw_only=True):
    """The tools a filter exposes and the ``tools/list`` cost, or why it exposes nothing."""

    rows: tuple[PreviewRow, ...]
    total: int
    """Tools in the whole catalogue."""
    size_bytes: int
    tokens: int
    problem: str | None
    """Set when the server could not be created with this filter."""


class FilterChoices(msgspec.Struct, frozen=True, kw_only=True):
    """What the form offers: the catalogue's own methods and tags."""

    fine_methods: tuple[str, ...]
    """``custom`` and every exact method name, standard ones first."""
    tags: tuple[str, ...]


def filter_choices(tools: Sequence[ToolDescriptor]) -> FilterChoices:
    """The methods and tags the catalogue really has, in a stable order."""
    methods = known_methods(tools)
    standard = [m for m in ("list", "get", "create", "update", "delete") if m in methods]
    custom = sorted(methods - STANDARD_METHODS)
    return FilterChoices(
        fine_methods=("custom", *standard, *custom), tags=tuple(sorted(known_tags(tools)))
    )


def preview_filter(
    tools: Sequence[ToolDescriptor], methods: Sequence[str], tags: Sequence[str]
) -> FilterPreview:
    """The tools a server with ``methods`` and ``tags`` would list, and their token cost."""
    problem: str | None = None
    exposed: tuple[ToolDescriptor, ...] = ()
    problems = check_filter(tools, methods, tags)
    if not methods:
        problem = "Choose at least one method: a server without methods exposes nothing."
    elif problems:
        problem = f"Not in the catalogue: {problems.message()}."
    else:
        exposed = filter_tools(tools, methods, tags)
        if not exposed:
            problem = "No tool matches these methods and tags; widen the methods or the tags."
    size, tokens = estimate_tokens(exposed) if exposed else (0, 0)
    rows = tuple(
        PreviewRow(
            name=t.name,
            title=t.title,
            method=t.method,
            method_class=t.method_class,
            tags=t.tags,
            tokens=estimate_tokens((t,))[1],
        )
        for t in exposed
    )
    return FilterPreview(
        rows=rows, total=len(tools), size_bytes=size, tokens=tokens, problem=problem
    )
