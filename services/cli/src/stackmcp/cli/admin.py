"""Shared plumbing of the admin commands (``accounts``, ``servers``, ``tokens``).

They talk to the provisioning admin API at ``--url`` or ``STACKMCP_ADMIN_URL`` with the admin
token from ``STACKMCP_ADMIN_TOKEN`` or the file named by ``STACKMCP_ADMIN_TOKEN_FILE``
(``--admin-token`` works but lands in shell history). When neither names a token, the one a
local ``stackmcp up`` keeps in its data directory is used (``STACKMCP_DATA_DIR``, default
``.stackmcp`` here), with that run's admin URL, unless another URL was asked for: a local token
is never sent elsewhere. ``--json`` prints the API's answer as received, for scripts.

Exit codes:
    0  success
    1  the API refused the request (validation, conflict, the Better Stack token refused);
       the API's message is printed, then each field problem as ``  field: message``
    2  usage or configuration error (bad option, no admin token configured)
    3  authentication failed (the admin token was refused)
    4  not found (unknown account, server or token)
    5  provisioning unreachable or unavailable (connection refused, timeout, 5xx)

No traceback is ever printed and no token is ever echoed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import httpx

from stackmcp.cli.admin_client import AdminClient, AdminError, Answer, AuthFailed
from stackmcp.cli.localstate import local_admin
from stackmcp.cli.output import emit
from stackmcp.runtime.admin import AdminConfig, admin_token
from stackmcp.runtime.config import ConfigError, load_section

__all__ = [
    "EXIT_CODES",
    "Context",
    "UsageError",
    "add_command",
    "add_noun",
    "expiry_options",
    "parse_duration",
    "parse_instant",
    "requested_expiry",
    "run_admin",
    "wire_time",
]

EXIT_CODES = """\
exit codes:
  0  success
  1  the API refused the request (validation, conflict, Better Stack token refused)
  2  usage or configuration error (bad option, no admin token configured)
  3  authentication failed (the admin token was refused)
  4  not found (unknown account, server or token)
  5  provisioning unreachable or unavailable (connection refused, timeout, 5xx)
"""

_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_HINT = "use a number and a unit: 90s, 30m, 1h, 2d, or a combination like 1h30m"
_ADMIN_VARIABLES = "STACKMCP_ADMIN_TOKEN or STACKMCP_ADMIN_TOKEN_FILE"
_UNCONFIGURED = (
    "no admin token configured: set STACKMCP_ADMIN_TOKEN, or STACKMCP_ADMIN_TOKEN_FILE to a file "
    "holding it, or run this where stackmcp up keeps its data (.stackmcp, or STACKMCP_DATA_DIR)"
)

Action = Callable[["Context"], None]


class UsageError(Exception):
    """The command line cannot be acted on (exit 2); the message says what to give instead."""


@dataclass
class Context:
    """What an admin action needs: the client, its arguments and where to print."""

    client: AdminClient
    args: argparse.Namespace
    out: TextIO
    err: TextIO
    stdin: TextIO
    secrets: list[str] = field(default_factory=list)
    """Values that must never be printed (tokens); masked in every error message."""

    def show(self, answer: Answer, human: Callable[[Any], str]) -> None:
        """Print ``answer`` as received with ``--json``, else ``human(answer.data)``."""
        emit(self.out, answer.text if self.args.json else human(answer.data))

    def note(self, text: str) -> None:
        """A message for people on stderr (kept off stdout so ``--json`` output stays clean)."""
        emit(self.err, text)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("admin API options")
    group.add_argument(
        "--url",
        help="admin API base URL (default: $STACKMCP_ADMIN_URL, else http://127.0.0.1:8081)",
    )
    group.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="discouraged: visible in shell history and process lists; set STACKMCP_ADMIN_TOKEN "
        "or STACKMCP_ADMIN_TOKEN_FILE instead",
    )
    group.add_argument(
        "--json", action="store_true", help="print the API's JSON answer as received (scripts)"
    )
    group.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="seconds to wait for the API (default: 10)",
    )
    return parent


_COMMON = _common_options()


def add_noun(commands: Any, name: str, *, help: str, description: str) -> Any:
    """Register a noun (``accounts``...) and return the sub-parsers object for its verbs."""
    parser = commands.add_parser(
        name,
        help=help,
        description=description,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser.add_subparsers(dest="verb", required=True, metavar="VERB")


def add_command(
    verbs: Any,
    name: str,
    action: Action,
    *,
    help: str,
    description: str,
) -> argparse.ArgumentParser:
    """Register one verb with the shared admin options; ``action`` runs when it is chosen."""
    parser: argparse.ArgumentParser = verbs.add_parser(
        name,
        help=help,
        description=description,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_COMMON],
    )
    parser.set_defaults(admin_action=action)
    return parser


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``1h``, ``2d`` or combinations in that order (``1h30m``, ``2d12h``).

    Raises:
        argparse.ArgumentTypeError: anything else, or a zero duration.
    """
    match = _DURATION_RE.fullmatch(text)
    if not text or match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; {_DURATION_HINT}")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if not duration:
        raise argparse.ArgumentTypeError(f"{text!r} is zero; {_DURATION_HINT}")
    return duration


def parse_instant(text: str) -> datetime:
    """An ISO-8601 time with a zone (``2026-12-01T00:00:00Z``, ``...+02:00``).

    Raises:
        argparse.ArgumentTypeError: not ISO-8601, or without a time zone.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 time like 2026-12-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time zone; add one, e.g. {text}Z for UTC or {text}+02:00"
        )
    return moment


def wire_time(moment: datetime) -> str:
    """``moment`` as the API's UTC ISO form, e.g. ``2026-12-01T00:00:00Z``."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def expiry_options(parser: argparse.ArgumentParser, *, clearable: bool) -> None:
    """``--expires-in`` | ``--expires-at`` (| ``--no-expiry`` when ``clearable``)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--expires-in",
        type=parse_duration,
        metavar="DURATION",
        help="expire after this long: 90s, 30m, 1h, 2d, 1h30m (at least a minute)",
    )
    group.add_argument(
        "--expires-at",
        type=parse_instant,
        metavar="TIME",
        help="expire at this ISO-8601 time with a zone, e.g. 2026-12-01T00:00:00Z",
    )
    if clearable:
        group.add_argument("--no-expiry", action="store_true", help="never expire")


def requested_expiry(args: argparse.Namespace) -> str | None:
    """The ``expires_at`` the options ask for (``None`` when they ask for none)."""
    if args.expires_in is not None:
        return wire_time(datetime.now(UTC) + args.expires_in)
    if args.expires_at is not None:
        return wire_time(args.expires_at)
    return None


def run_admin(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Run the admin action chosen on the command line; returns the exit code (see module)."""
    out, err = out or sys.stdout, err or sys.stderr
    secrets: list[str] = []
    try:
        url, token = _admin_target(args, environ)
        secrets.append(token)
        with AdminClient(url, token, timeout=args.timeout, transport=transport) as client:
            context = Context(client, args, out, err, stdin or sys.stdin, secrets)
            args.admin_action(context)
    except ConfigError as exc:
        emit(err, _mask(f"stackmcp: configuration error: {exc}", secrets))
        return 2
    except UsageError as exc:
        emit(err, _mask(f"stackmcp: {exc}", secrets))
        return 2
    except AdminError as exc:
        if args.json and exc.body:
            emit(out, _mask(exc.body, secrets))
        emit(err, _mask(_describe(exc, args), secrets))
        return exc.exit_code
    except KeyboardInterrupt:
        emit(err, "stackmcp: interrupted")
        return 130
    return 0


def _admin_target(args: argparse.Namespace, environ: Mapping[str, str] | None) -> tuple[str, str]:
    """The admin URL and token: flags, then ``STACKMCP_ADMIN_*``, then the local data directory.

    The data directory's token goes only to its own run's URL (or the default one when that run
    left none): a token of a local run is never sent to a URL given for somewhere else.

    Raises:
        ConfigError: no token anywhere, or a malformed setting.
    """
    config = load_section(AdminConfig, "ADMIN", environ)
    given_url = args.url or (os.environ if environ is None else environ).get("STACKMCP_ADMIN_URL")
    token = (args.admin_token or "").strip() or admin_token(config)
    if token:
        return given_url or config.url, token
    local = local_admin(environ)
    local_url = local.url or config.url
    if local.token and (not given_url or given_url.rstrip("/") == local_url.rstrip("/")):
        return local_url, local.token
    raise ConfigError(_UNCONFIGURED)


def _describe(exc: AdminError, args: argparse.Namespace) -> str:
    lines = [f"stackmcp: {exc.message}"]
    if isinstance(exc, AuthFailed):
        where = "--admin-token" if args.admin_token else _ADMIN_VARIABLES
        lines.append(f"  (check the admin token in {where})")
    lines += [
        f"  {name}: {problem}" for name, problems in exc.fields.items() for problem in problems
    ]
    return "\n".join(lines)


def _mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text
