"""What a server's configuration exposes, for the create and edit forms' live preview.

The rule is the one the gateway enforces (:func:`~stackmcp.contracts.policy.expose`), and the
configuration is read and checked by the same code as the admin API's, so the preview cannot
drift from what the minted URL will list. Tools the exclusions or pins withhold are listed with
why.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from stackmcp.contracts.filters import STANDARD_METHODS, check_filter, known_methods, known_tags
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.mcp_tools import estimate_tokens
from stackmcp.contracts.policy import budget_text, budgets_for, expose, needs_confirmation
from stackmcp.contracts.tools import ToolDescriptor
from stackmcp.provisioning.bodies import FieldErrors, ServerConfigBody
from stackmcp.provisioning.serverconfig import apply_config, check_config, plain_reason

__all__ = [
    "FilterChoices",
    "FilterPreview",
    "PreviewRow",
    "WithheldRow",
    "every_tag_warning",
    "filter_choices",
    "preview_config",
    "tag_counts",
]

_DRAFT = Grant(server_id="preview", account_id="preview")
_LABELS = {
    "config.exclude_tags": "Tags to leave out",
    "config.exclude_tools": "Tools to leave out",
    "config.confirm": "Confirmation",
    "config.budgets": "Budget",
    "config.pin": "Limit to ids",
}


class PreviewRow(msgspec.Struct, frozen=True, kw_only=True):
    """One tool the filter exposes, with what listing it costs."""

    name: str
    title: str
    method: str
    method_class: str
    tags: tuple[str, ...]
    tokens: int
    asks_first: bool = False
    """Whether a call waits for a person's confirmation."""
    budgets: tuple[str, ...] = ()
    """The budgets a call counts against, e.g. ``write: 10/h``."""


class WithheldRow(msgspec.Struct, frozen=True, kw_only=True):
    """A tool the methods and tags match but the exclusions or pins leave out, and why."""

    name: str
    title: str
    reason: str


class FilterPreview(msgspec.Struct, frozen=True, kw_only=True):
    """The tools a filter exposes and the ``tools/list`` cost, or why it exposes nothing."""

    rows: tuple[PreviewRow, ...]
    withheld: tuple[WithheldRow, ...] = ()
    total: int
    """Tools in the whole catalogue."""
    size_bytes: int
    tokens: int
    problem: str | None
    """Set when the server could not be created with this filter."""
    warning: str | None = None
    """Set when no tag is chosen: every tag's tools are exposed, named here."""
    tag_counts: dict[str, int] = msgspec.field(default_factory=dict)
    """Tag → tools it would expose under the chosen methods and exclusions."""


class FilterChoices(msgspec.Struct, frozen=True, kw_only=True):
    """What the form offers: the catalogue's own methods and tags."""

    fine_methods: tuple[str, ...]
    """``custom`` and every exact method name, standard ones first."""
    tags: tuple[str, ...]
    covered: dict[str, str] = msgspec.field(default_factory=dict)
    """Fine method → ``read`` or ``write`` when every tool of that method is of that class, so
    ticking Read (or Write) already includes it."""


def filter_choices(tools: Sequence[ToolDescriptor]) -> FilterChoices:
    """The methods and tags the catalogue really has, in a stable order."""
    methods = known_methods(tools)
    standard = [m for m in ("list", "get", "create", "update", "delete") if m in methods]
    custom = sorted(methods - STANDARD_METHODS)
    classes: dict[str, set[str]] = {}
    for tool in tools:
        classes.setdefault(tool.method, set()).add(tool.method_class)
        if tool.method not in STANDARD_METHODS:
            classes.setdefault("custom", set()).add(tool.method_class)
    covered = {m: next(iter(c)) for m, c in classes.items() if len(c) == 1}
    return FilterChoices(
        fine_methods=("custom", *standard, *custom),
        tags=tuple(sorted(known_tags(tools))),
        covered={m: c for m, c in covered.items() if c in ("read", "write")},
    )


def tag_counts(tools: Sequence[ToolDescriptor], grant: Grant) -> dict[str, int]:
    """Tag → how many tools choosing only that tag would expose (same methods, exclusions)."""
    if not grant.methods:
        return dict.fromkeys(known_tags(tools), 0)
    every = expose(tools, msgspec.structs.replace(grant, tags=())).tools
    counts = dict.fromkeys(known_tags(tools), 0)
    for tool in every:
        for tag in tool.tags:
            counts[tag] += 1
    return counts


def every_tag_warning(names: Sequence[str]) -> str | None:
    """The warning of a server with no tag chosen: every tag, so many tools, including …"""
    if not names:
        return None
    shown = ", ".join(names[:3])
    more = ", …" if len(names) > 3 else "."
    noun = "tool" if len(names) == 1 else "tools"
    return (
        f"No tag chosen, so every tag: {len(names)} {noun}, including {shown}{more} "
        "Choose tags to expose only what this server is for."
    )


def preview_config(tools: Sequence[ToolDescriptor], config: ServerConfigBody) -> FilterPreview:
    """The tools a server with ``config`` would list, their token cost, and the tools it
    withholds with why."""
    errors = FieldErrors()
    grant = apply_config(errors, config, _DRAFT)
    check_config(errors, tools, grant)
    exposure = expose(tools, grant) if grant.methods else None
    exposed = exposure.tools if exposure else ()
    size, tokens = estimate_tokens(exposed) if exposed else (0, 0)
    titles = {t.name: t.title for t in tools}
    return FilterPreview(
        rows=tuple(_row(t, grant) for t in exposed),
        withheld=tuple(
            WithheldRow(name=name, title=titles.get(name, ""), reason=plain_reason(reason))
            for name, reason in (exposure.withheld.items() if exposure else ())
        ),
        total=len(tools),
        size_bytes=size,
        tokens=tokens,
        problem=_problem(tools, grant, errors, bool(exposure and exposure.withheld)),
        warning=None if grant.tags else every_tag_warning([t.name for t in exposed]),
        tag_counts=tag_counts(tools, grant),
    )


def _row(tool: ToolDescriptor, grant: Grant) -> PreviewRow:
    return PreviewRow(
        name=tool.name,
        title=tool.title,
        method=tool.method,
        method_class=tool.method_class,
        tags=tool.tags,
        tokens=estimate_tokens((tool,))[1],
        asks_first=needs_confirmation(tool, grant.confirm),
        budgets=tuple(f"{b.target}: {budget_text(b)}" for b in budgets_for(tool, grant.budgets)),
    )


def _problem(
    tools: Sequence[ToolDescriptor], grant: Grant, errors: FieldErrors, withheld: bool
) -> str | None:
    if not grant.methods:
        return "Choose at least one method: a server without methods exposes nothing."
    problems = check_filter(tools, grant.methods, grant.tags)
    if problems:
        return f"Not in the catalogue: {problems.message()}."
    texts = []
    for field, messages in errors.fields.items():
        if field == "config":
            texts.append(
                "Every tool these methods and tags match is left out (see below); leave out "
                "less or widen the methods or the tags."
                if withheld
                else "No tool matches these methods and tags; widen the methods or the tags."
            )
        else:
            texts.append(f"{_label(field)}: {'; '.join(messages)}.")
    return " ".join(texts) or None


def _label(field: str) -> str:
    for section, label in _LABELS.items():
        if field == section:
            return label
        if field.startswith(f"{section}."):
            return f"{label} ({field.removeprefix(section + '.')})"
    return field
