"""``stackmcp servers``: scoped MCP servers on a connected account (create, list, show, update,
rotate, revoke).

``create`` prints the server's URL once — the API never shows it again — followed by
ready-to-paste configuration for Claude, Claude Code and Claude Desktop; ``rotate`` does the same
for a new URL of an existing server (the old one stops working at once).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from stackmcp.cli.admin import (
    Context,
    UsageError,
    add_command,
    add_noun,
    expiry_options,
    requested_expiry,
)
from stackmcp.cli.admin_client import segment
from stackmcp.cli.catalog import parse_terms
from stackmcp.cli.output import cell, key_values, parse_time, relative, table, when
from stackmcp.contracts.grants import CONFIRM_MODES, TOOL_EXPOSURES
from stackmcp.provisioning.clientconfig import guidance_lines

__all__ = ["add_parser"]

_METHODS_HELP = "comma-separated: read, write, custom or exact method names (API default: read)"
_TAGS_HELP = "comma-separated catalogue tags, e.g. incidents,on-call; a tool needs one of them"
_EXCLUDE_TAGS_HELP = "comma-separated tags whose tools are withheld, e.g. destructive"
_EXCLUDE_TOOLS_HELP = "comma-separated tool names to withhold (see stackmcp catalog)"
_CONFIRM_HELP = (
    "which calls wait for a person's confirmation: none, destructive or writes (API default: none)"
)
_BUDGET_HELP = (
    "at most COUNT calls per window of a tool, of read or write, or of a method such as "
    "resolve: write=10/h, resolve=3/d, read=100/30m (repeatable)"
)
_PIN_HELP = (
    "limit an id parameter to these values, e.g. incident_id=7,8 (repeatable); writes that "
    "do not name it are withheld"
)
_REVEAL_HELP = "show credential fields in results (default: they read [redacted])"
_PROVENANCE_HELP = "writes leave a note on the Better Stack timeline naming server and client"
_EXPOSURE_HELP = (
    "all: tools/list shows every tool; discovery: it shows search_tools, get_tool_schema and "
    "call_tool, which reach the same tools on the same terms (API default: all)"
)


def add_parser(commands: Any) -> None:
    """Register ``servers`` and its verbs on an argparse sub-parsers object."""
    verbs = add_noun(
        commands,
        "servers",
        help="scoped MCP servers on an account (create, list, show, update, rotate, revoke)",
        description="MCP servers: each is a secret URL exposing the Better Stack tools its "
        "method/tag filter allows, for one account, optionally until an expiry time.",
    )
    create = add_command(
        verbs,
        "create",
        _create,
        help="create an MCP server and print its URL (once) and client config",
        description="Create an MCP server. Its URL is printed only now: store it.",
    )
    create.add_argument("account_id", metavar="ACCOUNT_ID")
    create.add_argument("--name", required=True, help="a name for people, e.g. 'oncall triage'")
    create.add_argument("--methods", help=_METHODS_HELP)
    create.add_argument("--tags", help=_TAGS_HELP + " (default: any)")
    create.add_argument(
        "--require-api-token",
        action="store_const",
        const=True,
        help="clients must also send an API token (see stackmcp tokens)",
    )
    _policy_options(create, updating=False)
    expiry_options(create, clearable=False)
    listing = add_command(
        verbs, "list", _list, help="list an account's servers", description="List the servers."
    )
    listing.add_argument("account_id", metavar="ACCOUNT_ID")
    listing.add_argument(
        "--status",
        choices=("active", "expired", "revoked", "all"),
        default="all",
        help="only servers of this status (default: all, revoked and expired ones kept for "
        "history included)",
    )
    show = add_command(verbs, "show", _show, help="show one server", description="Show one.")
    _ids(show)
    update = add_command(
        verbs,
        "update",
        _update,
        help="change a server's name, filter, policy, API-token requirement or expiry",
        description="Change a server; options not given stay as they are.",
    )
    _ids(update)
    update.add_argument("--name", help="a new name")
    update.add_argument("--methods", help=_METHODS_HELP)
    update.add_argument("--tags", help=_TAGS_HELP + " ('' = any)")
    update.add_argument(
        "--require-api-token",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether clients must also send an API token",
    )
    _policy_options(update, updating=True)
    expiry_options(update, clearable=True)
    rotate = add_command(
        verbs,
        "rotate",
        _rotate,
        help="give a server a new URL, printed once; the old URL stops working at once",
        description="Rotate a server's URL (e.g. after it leaked): same id, tools, policy and "
        "expiry, a new URL printed only now; the old URL is refused from now on.",
    )
    _ids(rotate)
    revoke = add_command(
        verbs,
        "revoke",
        _revoke,
        help="revoke a server; its URL stops working",
        description="Revoke a server.",
    )
    _ids(revoke)


def _policy_options(parser: argparse.ArgumentParser, *, updating: bool) -> None:
    """What a server withholds, confirms, budgets, pins, redacts and notes."""
    none = " ('' = none)" if updating else ""
    parser.add_argument("--exclude-tags", metavar="TAGS", help=_EXCLUDE_TAGS_HELP + none)
    parser.add_argument("--exclude-tools", metavar="TOOLS", help=_EXCLUDE_TOOLS_HELP + none)
    parser.add_argument("--confirm", choices=CONFIRM_MODES, help=_CONFIRM_HELP)
    parser.add_argument("--tool-exposure", choices=TOOL_EXPOSURES, help=_EXPOSURE_HELP)
    replaced = "; replaces every budget" if updating else ""
    budgets = parser.add_mutually_exclusive_group() if updating else parser
    budgets.add_argument(
        "--budget",
        action="append",
        type=_assignment,
        metavar="TARGET=COUNT/WINDOW",
        help=_BUDGET_HELP + replaced,
    )
    pins = parser.add_mutually_exclusive_group() if updating else parser
    pins.add_argument(
        "--pin",
        action="append",
        type=_assignment,
        metavar="PARAM=V1,V2",
        help=_PIN_HELP + ("; replaces every pin" if updating else ""),
    )
    if updating:
        budgets.add_argument("--no-budgets", action="store_true", help="remove every budget")
        pins.add_argument("--no-pin", action="store_true", help="remove every pin")
    parser.add_argument(
        "--reveal-secrets", action=argparse.BooleanOptionalAction, default=None, help=_REVEAL_HELP
    )
    parser.add_argument(
        "--provenance",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=_PROVENANCE_HELP + " (API default: on)",
    )


def _assignment(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` with both parts present (for ``--budget`` and ``--pin``)."""
    name, equals, value = (part.strip() for part in text.partition("="))
    if not equals or not name or not value:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=VALUE; e.g. --budget write=10/h or --pin incident_id=7,8"
        )
    return name, value


def _ids(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account_id", metavar="ACCOUNT_ID")
    parser.add_argument("server_id", metavar="SERVER_ID")


def _path(args: argparse.Namespace, server: bool = True) -> str:
    base = f"/integrated-account/{segment(args.account_id)}/mcp"
    return f"{base}/{segment(args.server_id)}" if server else base


def _filter(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for option, key in _TERM_OPTIONS:
        if getattr(args, option) is not None:
            config[key] = list(parse_terms(getattr(args, option)))
    for option, key in _FLAG_OPTIONS:
        if getattr(args, option) is not None:
            config[key] = getattr(args, option)
    if args.budget is not None or getattr(args, "no_budgets", False):
        config["budgets"] = _keyed("--budget", args.budget or [], lambda text: text)
    if args.pin is not None or getattr(args, "no_pin", False):
        config["pin"] = _keyed("--pin", args.pin or [], lambda text: list(parse_terms(text)))
    return config


_TERM_OPTIONS = (
    ("methods", "methods"),
    ("tags", "tags"),
    ("exclude_tags", "exclude_tags"),
    ("exclude_tools", "exclude_tools"),
)
_FLAG_OPTIONS = (
    ("require_api_token", "require_api_token_auth"),
    ("confirm", "confirm"),
    ("reveal_secrets", "reveal_secrets"),
    ("provenance", "provenance"),
    ("tool_exposure", "tool_exposure"),
)


def _keyed(
    option: str, pairs: list[tuple[str, str]], value: Callable[[str], Any]
) -> dict[str, Any]:
    """``--budget``/``--pin`` pairs as the API's object; a name given twice is a usage error."""
    found: dict[str, Any] = {}
    for name, text in pairs:
        if name in found:
            raise UsageError(f"{option} {name}=... is given twice; give each once")
        found[name] = value(text)
    return found


def _create(ctx: Context) -> None:
    args = ctx.args
    body: dict[str, Any] = {"name": args.name}
    config = _filter(args)
    if config:
        body["config"] = config
    expires_at = requested_expiry(args)
    if expires_at is not None:
        body["expires_at"] = expires_at
    answer = ctx.client.post(_path(args, server=False), body)
    if args.json:
        ctx.note("note: the url in this answer is shown only now; store it")
    ctx.show(answer, _created)


def _created(server: dict[str, Any]) -> str:
    return _minted(f"Created MCP server {server.get('id')}.", server)


def _rotated(server: dict[str, Any]) -> str:
    headline = (
        f"New URL for MCP server {server.get('id')}; the old URL no longer works. "
        "Give the new one to its clients."
    )
    return _minted(headline, server)


def _minted(headline: str, server: dict[str, Any]) -> str:
    """A server with its URL, shown this once: details, warnings, the URL, client guidance."""
    url = server.get("url")
    lines = [headline, _details(server)]
    lines += [f"warning: {warning}" for warning in server.get("warnings") or []]
    lines += [
        "URL — shown only now, store it somewhere safe (it cannot be shown again):",
        f"  {url}",
        "",
    ]
    if (server.get("config") or {}).get("require_api_token_auth"):
        lines += [
            "This server also requires an API token (its second factor): create one with",
            "  stackmcp tokens create --name NAME",
            "Clients sign in with it when they ask, or send it where the snippets below say"
            " <API token>.",
            "",
        ]
    lines += guidance_lines(server.get("client_config") or {})
    return "\n".join(lines) + "\n"


def _rotate(ctx: Context) -> None:
    answer = ctx.client.post(_path(ctx.args) + "/rotate")
    if ctx.args.json:
        ctx.note("note: the url in this answer is shown only now; store it")
    ctx.show(answer, _rotated)


def _list(ctx: Context) -> None:
    path = _path(ctx.args, server=False)
    if ctx.args.status != "all":
        path += f"?status={ctx.args.status}"
    ctx.show(ctx.client.get(path), _table)


def _table(answer: dict[str, Any]) -> str:
    items = answer.get("items") or []
    if not items:
        return "No MCP servers on this account; create one with: stackmcp servers create\n"
    rows = []
    for server in items:
        config = server.get("config") or {}
        rows.append(
            (
                cell(server.get("id")),
                cell(server.get("fingerprint")),
                cell(server.get("name")),
                cell(server.get("status")),
                cell(config.get("methods")),
                cell(config.get("tags")),
                cell(config.get("require_api_token_auth")),
                cell((config.get("exclude_tags") or []) + (config.get("exclude_tools") or [])),
                cell(config.get("confirm")),
                _pairs(config.get("budgets"), ";"),
                _pairs(config.get("pin"), ";"),
                _secrets(config),
                cell(config.get("provenance")),
                cell(server.get("tool_count")),
                when(server.get("expires_at")),
                _ago(server.get("last_used_at")),
                cell(server.get("calls_24h")),
                cell(server.get("errors_24h")),
            )
        )
    headers = (
        "ID", "FINGERPRINT", "NAME", "STATUS", "METHODS", "TAGS", "API_TOKEN", "EXCLUDES",
        "CONFIRM", "BUDGETS", "PIN", "SECRETS", "TIMELINE_NOTE", "TOOLS", "EXPIRES", "LAST_USED",
        "CALLS_24H", "ERRORS_24H",
    )  # fmt: skip
    return table(headers, rows)


def _show(ctx: Context) -> None:
    ctx.show(ctx.client.get(_path(ctx.args)), _details)


def _details(server: dict[str, Any]) -> str:
    config = server.get("config") or {}
    facts = key_values(
        [
            ("id", cell(server.get("id"))),
            ("account", cell(server.get("account_id"))),
            ("name", cell(server.get("name"))),
            ("status", cell(server.get("status"))),
            ("methods", cell(config.get("methods"))),
            ("tags", cell(config.get("tags")) if config.get("tags") else "(any)"),
            ("api token required", cell(config.get("require_api_token_auth"))),
            ("excluded tags", cell(config.get("exclude_tags"))),
            ("excluded tools", cell(config.get("exclude_tools"))),
            ("confirm", cell(config.get("confirm"))),
            ("budgets", _pairs(config.get("budgets"), ", ")),
            ("pinned", _pairs(config.get("pin"), ", ")),
            ("secrets in results", _secrets(config)),
            ("timeline note", cell(config.get("provenance"))),
            ("tool exposure", cell(config.get("tool_exposure", "all"))),
            ("tools", cell(server.get("tool_count"))),
            ("expires", when(server.get("expires_at"))),
            *_ended(server),
            ("created", when(server.get("created_at"))),
            ("created by", cell(server.get("created_by"))),
            ("updated", when(server.get("updated_at"))),
            ("fingerprint", cell(server.get("fingerprint"))),
            ("last used", when(server.get("last_used_at"), never="-")),
            ("calls (24h)", cell(server.get("calls_24h"))),
            ("errors (24h)", cell(server.get("errors_24h"))),
        ]
    )
    return facts + _withheld(server.get("withheld") or {})


def _pairs(value: Any, separator: str) -> str:
    """Budgets or pins (an object) as ``write=10/h`` items; ``-`` for none."""
    if not isinstance(value, dict) or not value:
        return "-"
    return separator.join(f"{key}={cell(item)}" for key, item in value.items())


def _secrets(config: dict[str, Any]) -> str:
    if "reveal_secrets" not in config:
        return "-"
    return "revealed" if config["reveal_secrets"] else "redacted"


def _withheld(withheld: dict[str, str]) -> str:
    """The tools the server's exclusions and pins withhold, each with why."""
    if not withheld:
        return ""
    width = max(len(name) for name in withheld)
    lines = [f"  {name.ljust(width)}  {reason}" for name, reason in withheld.items()]
    return f"withheld tools ({len(withheld)}):\n" + "\n".join(lines) + "\n"


def _ended(server: dict[str, Any]) -> list[tuple[str, str]]:
    """``ended`` and ``ended by`` for a revoked or expired server (nothing while active)."""
    if server.get("ended_at") is None and server.get("ended_by") is None:
        return []
    return [("ended", when(server.get("ended_at"))), ("ended by", cell(server.get("ended_by")))]


def _ago(value: Any) -> str:
    """A time as "3m ago" (a table cell), ``-`` for none."""
    moment = parse_time(str(value)) if value is not None else None
    return relative(moment, datetime.now(UTC)) if moment else "-"


def _update(ctx: Context) -> None:
    args = ctx.args
    body: dict[str, Any] = {}
    if args.name is not None:
        body["name"] = args.name
    config = _filter(args)
    if config:
        body["config"] = config
    if args.no_expiry:
        body["expires_at"] = None
    else:
        expires_at = requested_expiry(args)
        if expires_at is not None:
            body["expires_at"] = expires_at
    if not body:
        raise UsageError(
            "nothing to change: give --name, --methods, --tags, --[no-]require-api-token, "
            "--exclude-tags, --exclude-tools, --confirm, --budget, --no-budgets, --pin, "
            "--no-pin, --[no-]reveal-secrets, --[no-]provenance, --tool-exposure, --expires-in, "
            "--expires-at or --no-expiry"
        )
    ctx.show(ctx.client.patch(_path(args), body), lambda s: "Updated.\n" + _details(s))


def _revoke(ctx: Context) -> None:
    args = ctx.args
    answer = ctx.client.delete(_path(args))
    ctx.show(answer, lambda _: f"Revoked MCP server {args.server_id}; its URL no longer works.\n")
