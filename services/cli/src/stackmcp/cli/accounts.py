"""``stackmcp accounts``: connect Better Stack accounts (add, list, show, remove).

The Better Stack API token is read from stdin (``--token-stdin``) or typed at a hidden prompt;
``--token`` works too but lands in shell history. It is sent once and never printed.
"""

from __future__ import annotations

import getpass
from typing import Any

from stackmcp.cli.admin import Context, UsageError, add_command, add_noun
from stackmcp.cli.admin_client import segment
from stackmcp.cli.output import cell, key_values, table, when

__all__ = ["add_parser"]

_PATH = "/integrated-account"


def add_parser(commands: Any) -> None:
    """Register ``accounts`` and its verbs on an argparse sub-parsers object."""
    verbs = add_noun(
        commands,
        "accounts",
        help="connect Better Stack accounts (add, list, show, remove)",
        description="Connected Better Stack accounts; MCP servers are created on one of them.",
    )
    add = add_command(
        verbs,
        "add",
        _add,
        help="connect a Better Stack account",
        description="Connect a Better Stack account by its API token. Pipe the token in with "
        "--token-stdin, or run in a terminal to be prompted for it.",
    )
    add.add_argument("--name", required=True, help="a name for people, e.g. Prod")
    source = add.add_mutually_exclusive_group()
    source.add_argument(
        "--token-stdin", action="store_true", help="read the Better Stack API token from stdin"
    )
    source.add_argument(
        "--token",
        help="the Better Stack API token (discouraged: lands in shell history; prefer "
        "--token-stdin or the prompt)",
    )
    add.add_argument("--base-url", help="Uptime API host (default: https://uptime.betterstack.com)")
    add.add_argument("--team", help="team to act for when the token is a global one")
    add.add_argument(
        "--verify", action="store_true", help="check the token against Better Stack first"
    )
    add_command(verbs, "list", _list, help="list accounts", description="List the accounts.")
    show = add_command(verbs, "show", _show, help="show one account", description="Show one.")
    show.add_argument("account_id", metavar="ACCOUNT_ID")
    remove = add_command(
        verbs,
        "remove",
        _remove,
        help="remove an account and revoke its MCP servers",
        description="Remove an account; every MCP server on it is revoked.",
    )
    remove.add_argument("account_id", metavar="ACCOUNT_ID")


def _add(ctx: Context) -> None:
    args = ctx.args
    token = _betterstack_token(ctx)
    ctx.secrets.append(token)
    body: dict[str, Any] = {
        "integration": "betterstack",
        "name": args.name,
        "betterstack_token": token,
    }
    if args.base_url is not None:
        body["base_url"] = args.base_url
    if args.team is not None:
        body["team_name"] = args.team
    if args.verify:
        body["verify"] = True
    answer = ctx.client.post(_PATH, body)
    ctx.show(answer, _added)


def _betterstack_token(ctx: Context) -> str:
    args = ctx.args
    if args.token is not None:
        token = str(args.token)
    elif args.token_stdin:
        token = ctx.stdin.read()
    elif ctx.stdin.isatty():
        token = getpass.getpass("Better Stack API token (input hidden): ")
    else:
        raise UsageError(
            "no Better Stack token: pipe it in with --token-stdin "
            "(e.g. `stackmcp accounts add --name Prod --token-stdin < token.txt`), "
            "or run in a terminal to be prompted"
        )
    token = token.strip()
    if not token:
        raise UsageError("the Better Stack token is empty")
    return token


def _added(account: dict[str, Any]) -> str:
    return (
        f"Connected account {account.get('id')}.\n"
        + _details(account)
        + f"\nNext: stackmcp servers create {account.get('id')} --name NAME "
        "[--methods read] [--tags ...] [--expires-in 1h]\n"
    )


def _list(ctx: Context) -> None:
    ctx.show(ctx.client.get(_PATH), _table)


def _table(answer: dict[str, Any]) -> str:
    items = answer.get("items") or []
    if not items:
        return "No accounts; connect one with: stackmcp accounts add --name NAME --token-stdin\n"
    rows = [
        (
            cell(a.get("id")),
            cell(a.get("name")),
            cell(a.get("integration")),
            cell(a.get("base_url")),
            cell(a.get("team_name")),
            cell(a.get("mcp_server_count")),
            when(a.get("created_at")),
        )
        for a in items
    ]
    return table(("ID", "NAME", "INTEGRATION", "BASE_URL", "TEAM", "SERVERS", "CREATED"), rows)


def _show(ctx: Context) -> None:
    ctx.show(ctx.client.get(f"{_PATH}/{segment(ctx.args.account_id)}"), _details)


def _details(account: dict[str, Any]) -> str:
    return key_values(
        [
            ("id", cell(account.get("id"))),
            ("name", cell(account.get("name"))),
            ("integration", cell(account.get("integration"))),
            ("base url", cell(account.get("base_url"))),
            ("team", cell(account.get("team_name"))),
            ("mcp servers", cell(account.get("mcp_server_count"))),
            ("created", when(account.get("created_at"))),
        ]
    )


def _remove(ctx: Context) -> None:
    account_id = ctx.args.account_id
    answer = ctx.client.delete(f"{_PATH}/{segment(account_id)}")
    ctx.show(answer, lambda _: f"Removed account {account_id}; its MCP servers are revoked.\n")
