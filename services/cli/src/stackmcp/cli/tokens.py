"""``stackmcp tokens`` and ``stackmcp admin-tokens``: tokens shown once (create, list, revoke).

Both nouns work the same way against the admin API — ``create`` prints the token once (the API
never shows it again), ``list`` shows ids and names, ``revoke`` refuses the token from now on —
and differ only in their path and their words, which a :class:`TokenKind` holds:

- ``tokens``: installation-wide API tokens, the second factor MCP clients send to servers created
  with ``--require-api-token`` (``Authorization: Bearer <API token>``);
- ``admin-tokens``: named operators' admin tokens; every change made with one is recorded under
  its name in the audit trail (``stackmcp log --operator NAME``), and one person's access can be
  revoked without touching anyone else's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stackmcp.cli.admin import Context, add_command, add_noun
from stackmcp.cli.admin_client import segment
from stackmcp.cli.output import cell, table, when

__all__ = ["ADMIN_TOKENS", "API_TOKENS", "TokenKind", "add_parser"]


@dataclass(frozen=True)
class TokenKind:
    """One noun: where its tokens live in the admin API and how the CLI speaks of them."""

    noun: str
    path: str
    what: str
    """What one token is called in sentences, e.g. ``API token``."""
    help: str
    description: str
    name_help: str
    keep: str
    """The advice printed with a new token."""
    use: str
    """How the new token is used."""
    revoked: str
    """What revoking means."""
    columns: tuple[str, ...] = ("id", "name", "created_at")


API_TOKENS = TokenKind(
    noun="tokens",
    path="/api-token",
    what="API token",
    help="API tokens for servers that require one (create, list, revoke)",
    description="API tokens: the second factor MCP clients send to servers created with "
    "--require-api-token.",
    name_help="a name for people, e.g. ci",
    keep="store it somewhere safe",
    use="MCP clients send it as: Authorization: Bearer <token>",
    revoked="clients sending it are refused from now on",
)
ADMIN_TOKENS = TokenKind(
    noun="admin-tokens",
    path="/admin-token",
    what="admin token",
    help="named operators' admin tokens (create, list, revoke)",
    description="Admin tokens for named operators: every change made with one is recorded "
    "under its name. The bootstrap token (STACKMCP_ADMIN_TOKEN) is not listed.",
    name_help="the operator's name, e.g. alice",
    keep="hand it over safely",
    use="Use it as STACKMCP_ADMIN_TOKEN (or in a file named by STACKMCP_ADMIN_TOKEN_FILE), or "
    "as Authorization: Bearer <token>.",
    revoked="requests with it are refused from now on",
    columns=("id", "name", "created_at", "created_by"),
)


def add_parser(commands: Any, kind: TokenKind = API_TOKENS) -> None:
    """Register ``kind``'s noun and its verbs on an argparse sub-parsers object."""
    verbs = add_noun(commands, kind.noun, help=kind.help, description=kind.description)
    create = add_command(
        verbs,
        "create",
        _bound(_create, kind),
        help=f"create an {kind.what} and print it (once)",
        description=f"Create an {kind.what}. It is printed only now: {kind.keep}.",
    )
    create.add_argument("--name", required=True, help=kind.name_help)
    add_command(
        verbs,
        "list",
        _bound(_list, kind),
        help=f"list {kind.what}s",
        description=f"List {kind.what}s.",
    )
    revoke = add_command(
        verbs,
        "revoke",
        _bound(_revoke, kind),
        help=f"revoke an {kind.what}",
        description=f"Revoke an {kind.what}; {kind.revoked}.",
    )
    revoke.add_argument("token_id", metavar="TOKEN_ID")


Verb = Callable[[Context, TokenKind], None]


def _bound(verb: Verb, kind: TokenKind) -> Callable[[Context], None]:
    return lambda ctx: verb(ctx, kind)


def _create(ctx: Context, kind: TokenKind) -> None:
    answer = ctx.client.post(kind.path, {"name": ctx.args.name})
    if ctx.args.json:
        ctx.note("note: the token in this answer is shown only now; store it")
    ctx.show(answer, lambda token: _created(kind, token))


def _created(kind: TokenKind, token: dict[str, Any]) -> str:
    return (
        f"Created {kind.what} {token.get('id')} ({token.get('name')}).\n\n"
        f"Token — shown only now, {kind.keep} (it cannot be shown again):\n"
        f"  {token.get('token')}\n\n"
        f"{kind.use}\n"
    )


def _list(ctx: Context, kind: TokenKind) -> None:
    ctx.show(ctx.client.get(kind.path), lambda answer: _table(kind, answer))


def _table(kind: TokenKind, answer: dict[str, Any]) -> str:
    items = answer.get("items") or []
    if not items:
        return f"No {kind.what}s; create one with: stackmcp {kind.noun} create --name NAME\n"
    rows = [
        tuple(when(t.get(k)) if k == "created_at" else cell(t.get(k)) for k in kind.columns)
        for t in items
    ]
    headers = tuple("CREATED" if k == "created_at" else k.upper() for k in kind.columns)
    return table(headers, rows)


def _revoke(ctx: Context, kind: TokenKind) -> None:
    token_id = ctx.args.token_id
    answer = ctx.client.delete(f"{kind.path}/{segment(token_id)}")
    ctx.show(answer, lambda _: f"Revoked {kind.what} {token_id}.\n")
