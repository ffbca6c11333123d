"""The review step of the server forms: what a create or an edit will do, checked like the
domain checks it but without writing anything, and (for an edit) what changes.

The form's default button (the one Enter presses) is "Review", which never writes; only the
review page's explicit "Create server" / "Save changes" button does. So Enter in a field can
never mint a server, with or without scripts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from msgspec import UNSET
from msgspec.structs import replace

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.policy import expose
from stackmcp.contracts.tools import ToolDescriptor
from stackmcp.provisioning.bodies import FieldErrors, check_name, parse_expires_at
from stackmcp.provisioning.console.forms import (
    CONFIRM_CHOICES,
    ServerForm,
    expires_at,
    form_config,
    form_problems,
)
from stackmcp.provisioning.serverconfig import apply_config, budget_map, check_config, pin_map

__all__ = ["Checked", "DiffRow", "check_draft", "diff_rows", "review_warnings", "tool_changes"]


@dataclass(frozen=True)
class Checked:
    """A draft checked as the domain would check it: the grant it yields, and problems."""

    grant: Grant
    fields: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class DiffRow:
    """One line of an edit's diff: what, before, after."""

    label: str
    before: str
    after: str


def check_draft(
    values: ServerForm,
    tools: Sequence[ToolDescriptor],
    *,
    account_id: str,
    before: Grant | None,
    now: datetime,
) -> Checked:
    """Check the form like ``create_server``/``update_server`` would, writing nothing.

    The minimum expiry is checked again when the server is really created.
    """
    problems = form_problems(values)
    errors = FieldErrors()
    name = check_name(errors, "name", values.name)
    when = expires_at(values, now)
    expires = before.expires_at if before else None
    if when is None:
        expires = None
    elif when is not UNSET:
        expires = parse_expires_at(errors, str(when), now, 0.0)
    draft = (
        replace(before, name=name, expires_at=expires)
        if before
        else Grant(server_id="review", account_id=account_id, name=name, expires_at=expires)
    )
    grant = apply_config(errors, form_config(values), draft)
    if grant.methods and not tools:
        return Checked(grant=grant, fields={**errors.fields, **problems})
    check_config(errors, tools, grant)
    return Checked(grant=grant, fields={**errors.fields, **problems})


def review_warnings(
    grant: Grant, tools: Sequence[ToolDescriptor], other_names: Sequence[str]
) -> list[str]:
    """What the operator should look at twice before creating (or saving) this server."""
    warnings = []
    if grant.name in other_names:
        warnings.append(f"Another active server of this account is already named “{grant.name}”.")
    if grant.expires_at is None:
        warnings.append("It never expires: its URL works until someone revokes it.")
    exposed = expose(tools, grant).tools
    if any(t.method_class == "write" for t in exposed) and grant.confirm == "none":
        warnings.append("It can change things in Better Stack without asking a person first.")
    if grant.reveal_secrets:
        warnings.append("Secrets in Better Stack's answers reach the client unredacted.")
    return warnings


def _expiry(grant: Grant) -> str:
    if grant.expires_at is None:
        return "never"
    return grant.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _words(values: Sequence[str], empty: str) -> str:
    return ", ".join(values) or empty


def _summaries(grant: Grant, tools: Sequence[ToolDescriptor]) -> dict[str, str]:
    confirm = dict(CONFIRM_CHOICES)
    budgets = budget_map(grant.budgets)
    pins = pin_map(grant.pin)
    return {
        "Name": grant.name,
        "Methods": _words(grant.methods, "none"),
        "Tags": _words(grant.tags, "every tag"),
        "Tools": str(len(expose(tools, grant).tools)) if tools else "?",
        "Expiry": _expiry(grant),
        "Leaves out": _words([*grant.exclude_tags, *grant.exclude_tools], "nothing"),
        "Ask a person first": confirm.get(grant.confirm, grant.confirm),
        "Call budgets": _words([f"{t}: {b}" for t, b in budgets.items()], "none"),
        "Limited to ids": _words([f"{p} {', '.join(v)}" for p, v in pins.items()], "any"),
        "API token": "required" if grant.require_api_token_auth else "not required",
        "Secrets in results": "revealed" if grant.reveal_secrets else "redacted",
        "Timeline note": "on" if grant.provenance else "off",
        "Tool list": grant.tool_exposure,
    }


def diff_rows(before: Grant, after: Grant, tools: Sequence[ToolDescriptor]) -> list[DiffRow]:
    """What an edit changes, before → after (unchanged lines left out)."""
    old, new = _summaries(before, tools), _summaries(after, tools)
    return [DiffRow(label, old[label], new[label]) for label in old if old[label] != new[label]]


def tool_changes(
    before: Grant, after: Grant, tools: Sequence[ToolDescriptor]
) -> tuple[list[str], list[str]]:
    """The tools an edit adds and removes."""
    old = [t.name for t in expose(tools, before).tools]
    new = [t.name for t in expose(tools, after).tools]
    return [n for n in new if n not in old], [n for n in old if n not in new]
