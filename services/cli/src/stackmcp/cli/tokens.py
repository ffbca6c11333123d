"""``stackmcp tokens``: installation-wide API tokens (create, list, revoke).

An MCP server created with ``--require-api-token`` accepts a request only with its URL *and*
``Authorization: Bearer <API token>``. ``create`` prints the token once; the API never shows it
again.
"""

from __future__ import annotations

from typing import Any

from stackmcp.cli.admin import Context, add_command, add_noun
from stackmcp.cli.admin_client import segment
from stackmcp.cli.output import cell, table, when

__all__ = ["add_parser"]

_PATH = "/api-token"


def add_parser(commands: Any) -> None:
    """Register ``tokens`` and its verbs on an argparse sub-parsers object."""
    verbs = add_noun(
        commands,
        "tokens",
        help="API tokens for servers that require one (create, list, revoke)",
        description="API tokens: the second factor MCP clients send to servers created with "
        "--require-api-token.",
    )
    create = add_command(
        verbs,
        "create",
        _create,
        help="create an API token and print it (once)",
        description="Create an API token. It is printed only now: store it.",
    )
    create.add_argument("--name", required=True, help="a name for people, e.g. ci")
    add_command(verbs, "list", _list, help="list API tokens", description="List API tokens.")
    revoke = add_command(
        verbs,
        "revoke",
        _revoke,
        help="revoke an API token",
        description="Revoke an API token; clients sending it are refused from now on.",
    )
    revoke.add_argument("token_id", metavar="TOKEN_ID")


def _create(ctx: Context) -> None:
    answer = ctx.client.post(_PATH, {"name": ctx.args.name})
    if ctx.args.json:
        ctx.note("note: the token in this answer is shown only now; store it")
    ctx.show(answer, _created)


def _created(token: dict[str, Any]) -> str:
    return (
        f"Created API token {token.get('id')} ({token.get('name')}).\n\n"
        "Token — shown only now, store it somewhere safe (it cannot be shown again):\n"
        f"  {token.get('token')}\n\n"
        "MCP clients send it as: Authorization: Bearer <token>\n"
    )


def _list(ctx: Context) -> None:
    ctx.show(ctx.client.get(_PATH), _table)


def _table(answer: dict[str, Any]) -> str:
    items = answer.get("items") or []
    if not items:
        return "No API tokens; create one with: stackmcp tokens create --name NAME\n"
    rows = [(cell(t.get("id")), cell(t.get("name")), when(t.get("created_at"))) for t in items]
    return table(("ID", "NAME", "CREATED"), rows)


def _revoke(ctx: Context) -> None:
    token_id = ctx.args.token_id
    answer = ctx.client.delete(f"{_PATH}/{segment(token_id)}")
    ctx.show(answer, lambda _: f"Revoked API token {token_id}.\n")
