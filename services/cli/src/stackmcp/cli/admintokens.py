"""``stackmcp admin-tokens``: named operators' admin tokens (create, list, revoke).

Each operator gets a token of their own, so every change is recorded under their name in the
audit trail (``stackmcp log --operator NAME``) and one person's access can be revoked without
touching anyone else's. ``create`` prints the token once; the API never shows it again.
"""

from __future__ import annotations

from typing import Any

from stackmcp.cli.admin import Context, add_command, add_noun
from stackmcp.cli.admin_client import segment
from stackmcp.cli.output import cell, table, when

__all__ = ["add_parser"]

_PATH = "/admin-token"
_COLUMNS = ("id", "name", "created_at", "created_by")


def add_parser(commands: Any) -> None:
    """Register ``admin-tokens`` and its verbs on an argparse sub-parsers object."""
    verbs = add_noun(
        commands,
        "admin-tokens",
        help="named operators' admin tokens (create, list, revoke)",
        description="Admin tokens for named operators: every change made with one is recorded "
        "under its name. The bootstrap token (STACKMCP_ADMIN_TOKEN) is not listed.",
    )
    create = add_command(
        verbs,
        "create",
        _create,
        help="create an operator's admin token and print it (once)",
        description="Create a named admin token. It is printed only now: hand it over safely.",
    )
    create.add_argument("--name", required=True, help="the operator's name, e.g. alice")
    add_command(
        verbs, "list", _list, help="list named admin tokens", description="List admin tokens."
    )
    revoke = add_command(
        verbs,
        "revoke",
        _revoke,
        help="revoke a named admin token",
        description="Revoke an admin token; requests with it are refused from now on.",
    )
    revoke.add_argument("token_id", metavar="TOKEN_ID")


def _create(ctx: Context) -> None:
    answer = ctx.client.post(_PATH, {"name": ctx.args.name})
    if ctx.args.json:
        ctx.note("note: the token in this answer is shown only now; store it")
    ctx.show(answer, _created)


def _created(token: dict[str, Any]) -> str:
    return (
        f"Created admin token {token.get('id')} for {token.get('name')}.\n\n"
        "Token — shown only now, hand it over safely (it cannot be shown again):\n"
        f"  {token.get('token')}\n\n"
        "Use it as STACKMCP_ADMIN_TOKEN (or in a file named by STACKMCP_ADMIN_TOKEN_FILE), or "
        "as Authorization: Bearer <token>.\n"
    )


def _list(ctx: Context) -> None:
    ctx.show(ctx.client.get(_PATH), _table)


def _table(answer: dict[str, Any]) -> str:
    items = answer.get("items") or []
    if not items:
        return "No named admin tokens; create one with: stackmcp admin-tokens create --name NAME\n"
    rows = [
        tuple(when(t.get(k)) if k == "created_at" else cell(t.get(k)) for k in _COLUMNS)
        for t in items
    ]
    return table(("ID", "NAME", "CREATED", "CREATED_BY"), rows)


def _revoke(ctx: Context) -> None:
    token_id = ctx.args.token_id
    answer = ctx.client.delete(f"{_PATH}/{segment(token_id)}")
    ctx.show(answer, lambda _: f"Revoked admin token {token_id}.\n")
