"""``stackmcp log``: the audit trail (tool calls and admin changes), as lines or JSON Lines.

Prints the newest ``--limit`` records that match, oldest first (like ``tail``), one per line;
``--json`` prints each record as stored, one JSON object per line (for export); ``--follow``
then keeps printing new records as they arrive until Ctrl-C (exit 0). ``--since``/``--until``
take an RFC 3339 time or a time ago (``15m``, ``2h``, ``7d``).
"""

from __future__ import annotations

import argparse
import re
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Any
from urllib.parse import urlencode

import msgspec

from stackmcp.cli.admin import (
    Context,
    UsageError,
    add_command,
    parse_duration,
    parse_instant,
    wire_time,
)
from stackmcp.cli.admin_client import Unreachable
from stackmcp.cli.output import emit, parse_time
from stackmcp.contracts.audit import OUTCOMES
from stackmcp.provisioning.ids import ACCOUNT_ID_RE, SERVER_ID_RE

__all__ = ["MAX_LIMIT", "POLL_SECONDS", "add_parser", "parse_moment", "record_line"]

POLL_SECONDS = 0.75
"""How often ``--follow`` asks for new records."""
RETRY_SECONDS = 2.0
"""How often ``--follow`` asks again while provisioning is unreachable."""
MAX_LIMIT = 100_000
"""Most records one ``stackmcp log`` prints before ``--follow`` (fetched 500 at a time)."""
_PAGE = 500
_TIME_HINT = "use an RFC 3339 time like 2026-12-01T09:00:00Z, or a time ago like 15m, 2h, 7d"
_WIDTHS = (20, 20, 14, 34, 14, 18, 8)
_HEADERS = ("TIME", "SERVER/OPERATOR", "CLIENT", "TOOL/ACTION", "OUTCOME", "ERROR", "DURATION")


class _Page(msgspec.Struct):
    """An answer of ``GET /log`` with each record kept as the bytes the API sent."""

    items: list[msgspec.Raw]
    next_cursor: str | None = None


_page_decoder = msgspec.json.Decoder(_Page)


def parse_moment(text: str) -> datetime:
    """``--since``/``--until``: an RFC 3339 time, or ``15m``/``2h``/``7d`` ago.

    Raises:
        argparse.ArgumentTypeError: neither.
    """
    if text[:1].isdigit() and text[-1:] in ("s", "m", "h", "d") and "T" not in text:
        try:
            return datetime.now(UTC) - parse_duration(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a time; {_TIME_HINT}") from None
    try:
        return parse_instant(text)
    except argparse.ArgumentTypeError as exc:
        if "time zone" in str(exc):
            raise
        raise argparse.ArgumentTypeError(f"{text!r} is not a time; {_TIME_HINT}") from None


def _limit(text: str) -> int:
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_LIMIT))
    if not digits or not 1 <= int(text) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _id(pattern: re.Pattern[str], example: str) -> Any:
    def check(text: str) -> str:
        if not pattern.fullmatch(text):
            raise argparse.ArgumentTypeError(f"{text!r} is not an id like {example}")
        return text

    return check


def _name(text: str) -> str:
    if not text or len(text) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise argparse.ArgumentTypeError("must be 1-200 characters without control characters")
    return text


def add_parser(commands: Any) -> None:
    """Register ``log`` on the top-level sub-parsers object."""
    parser = add_command(
        commands,
        "log",
        _run,
        help="the audit trail: tool calls and admin changes (filter, export, --follow)",
        description="Print the newest audit records that match, oldest first; --follow keeps "
        "printing new ones until Ctrl-C. --json prints each record as stored, one per line.",
    )
    parser.add_argument("--account", type=_id(ACCOUNT_ID_RE, "acc_0123456789abcdef"), metavar="ID")
    parser.add_argument("--server", type=_id(SERVER_ID_RE, "srv_0123456789abcdef"), metavar="ID")
    parser.add_argument("--kind", choices=("call", "admin"), help="tool calls or admin changes")
    parser.add_argument("--tool", type=_name, metavar="TOOL", help="calls of this tool")
    parser.add_argument("--outcome", choices=OUTCOMES, help="calls with this outcome")
    parser.add_argument("--client", type=_name, metavar="NAME", help="calls from this MCP client")
    parser.add_argument("--operator", type=_name, metavar="NAME", help="changes by this operator")
    parser.add_argument(
        "--since",
        type=parse_moment,
        metavar="TIME",
        help="from this time (RFC 3339, or 15m, 2h, 7d ago)",
    )
    parser.add_argument(
        "--until", type=parse_moment, metavar="TIME", help="before this time (RFC 3339, or 2h ago)"
    )
    parser.add_argument(
        "--limit",
        type=_limit,
        default=50,
        metavar="N",
        help=f"print the newest N records (default 50, at most {MAX_LIMIT})",
    )
    parser.add_argument(
        "--follow", "-f", action="store_true", help="then print new records as they come (Ctrl-C)"
    )


def _query(args: argparse.Namespace) -> dict[str, str]:
    query: dict[str, str] = {}
    pairs = (
        ("account_id", args.account),
        ("server_id", args.server),
        ("kind", args.kind),
        ("tool", args.tool),
        ("outcome", args.outcome),
        ("client_name", args.client),
        ("operator", args.operator),
    )
    query.update({name: value for name, value in pairs if value is not None})
    if args.since is not None:
        query["since"] = wire_time(args.since)
    if args.until is not None:
        query["until"] = wire_time(args.until)
    return query


def _get(ctx: Context, query: dict[str, str]) -> _Page:
    answer = ctx.client.get(f"/log?{urlencode(query)}")
    try:
        return _page_decoder.decode(answer.text)
    except msgspec.DecodeError:
        raise Unreachable(
            f"{ctx.client.url} answered /log with something else than audit records; "
            "is this the provisioning admin API (with GET /log)?"
        ) from None


def _run(ctx: Context) -> None:
    args = ctx.args
    query = _query(args)
    if args.since is not None and args.until is not None and args.since >= args.until:
        raise UsageError("--since must be before --until")
    start = _get(ctx, {**query, "after": ""}).next_cursor if args.follow else None
    history = _newest(ctx, query, args.limit, start)
    if not args.json:
        emit(ctx.out, _line(_HEADERS))
    _print(ctx, reversed(history))
    if args.follow and start is not None:
        with _quiet_stop():
            _follow(ctx, query, start)


def _newest(ctx: Context, query: dict[str, str], limit: int, cursor: str | None) -> list[bytes]:
    """Up to ``limit`` records before ``cursor``, newest first, following short pages."""
    records: list[bytes] = []
    while len(records) < limit:
        page_query = {**query, "limit": str(min(_PAGE, limit - len(records)))}
        if cursor is not None:
            page_query["cursor"] = cursor
        page = _get(ctx, page_query)
        records += [bytes(item) for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return records


def _follow(ctx: Context, query: dict[str, str], cursor: str) -> None:
    away = False
    while True:
        try:
            page = _get(ctx, {**query, "after": cursor, "limit": str(_PAGE)})
        except Unreachable as exc:
            if not away:
                ctx.note(f"stackmcp: {exc.message}; still trying")
                away = True
            time.sleep(RETRY_SECONDS)
            continue
        if away:
            ctx.note("stackmcp: provisioning answers again; following")
            away = False
        _print(ctx, (bytes(item) for item in page.items))
        cursor = page.next_cursor or cursor
        if len(page.items) < _PAGE:
            time.sleep(POLL_SECONDS)


@contextmanager
def _quiet_stop() -> Iterator[None]:
    """Ctrl-C or SIGTERM ends ``--follow`` normally (exit 0, no traceback)."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print(ctx: Context, records: Iterable[bytes]) -> None:
    for raw in records:
        if ctx.args.json:
            emit(ctx.out, raw.decode())
        else:
            emit(ctx.out, record_line(msgspec.json.decode(raw)))


def record_line(record: dict[str, Any]) -> str:
    """One record as a line for people: time, server/operator, client, tool/action, outcome,
    error code, duration; an admin change ends with what it acted on (server, token, account)."""
    moment = parse_time(str(record.get("time")))
    shown = (
        moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if moment
        else str(record.get("time"))
    )
    if "operator" in record:  # an admin change
        target = record.get("server_id") or record.get("target_id") or record.get("account_id")
        operator, action = str(record.get("operator")), str(record.get("action"))
        cells: tuple[str, ...] = (shown, operator, "-", action, "-", "-", "-", _cell(target))
    else:
        cells = (
            shown,
            str(record.get("server_id")),
            _cell(record.get("client_name")),
            _cell(record.get("tool") or record.get("method")),
            _cell(record.get("outcome")),
            _cell(record.get("error_code")),
            _duration(record.get("duration_ms")),
        )
    return _line(cells)


def _line(cells: tuple[str, ...]) -> str:
    padded = [c.ljust(w) for c, w in zip(cells, _WIDTHS, strict=False)]
    return "  ".join([*padded, *cells[len(_WIDTHS) :]]).rstrip()


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _duration(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    if value >= 1000:
        return f"{value / 1000:.1f}s"
    return f"{value:.1f}ms" if value < 10 else f"{value:.0f}ms"
