"""``stackmcp status``: what runs, whether it is ready, and how the recent tool calls went.

Asks provisioning's ``GET /status`` (admin auth): every service that answered the status ping
within half a second, grouped by service; the tool calls of the last ``--minutes`` (rate,
errors, p50/p99 duration, upstream 429s, the busiest tools); the expiry schedule's size; and
what needs a look, in words. ``--json`` prints the API's answer as received. Exits with
:data:`EXIT_UNHEALTHY` when a service is missing or a replica is not ready (after printing).
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlencode

from stackmcp.cli.admin import EXIT_CODES, Context, add_command
from stackmcp.cli.admin_client import AdminError, Unreachable
from stackmcp.cli.output import parse_time, relative, table
from stackmcp.contracts._base import utcnow

__all__ = ["EXIT_UNHEALTHY", "MAX_MINUTES", "Unhealthy", "add_parser", "render"]

EXIT_UNHEALTHY = 6
"""Exit status when a service is missing or a replica is not ready."""
MAX_MINUTES = 60
"""Most minutes of tool calls the API counts."""
STATUS_EXIT_CODES = EXIT_CODES + (
    f"  {EXIT_UNHEALTHY}  a service is missing or a replica is not ready (printed first)\n"
)


class Unhealthy(AdminError):
    """Provisioning answered, and some service is missing or not ready."""

    exit_code = EXIT_UNHEALTHY


def _minutes(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 2) or not (
        1 <= int(text) <= MAX_MINUTES
    ):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {MAX_MINUTES}")
    return int(text)


def add_parser(commands: Any) -> None:
    """Register ``status`` on the top-level sub-parsers object."""
    parser = add_command(
        commands,
        "status",
        _run,
        help="what runs and whether it is ready; the recent tool calls (rate, errors, p50/p99)",
        description="Ask every service over NATS (through provisioning) who runs and whether it "
        "is ready, and sum up the tool calls of the last minutes from the audit trail.",
    )
    parser.epilog = STATUS_EXIT_CODES
    parser.add_argument(
        "--minutes",
        type=_minutes,
        default=5,
        metavar="N",
        help=f"count the tool calls of the last N minutes (default 5, at most {MAX_MINUTES})",
    )


def _run(ctx: Context) -> None:
    answer = ctx.client.get(f"/status?{urlencode({'minutes': ctx.args.minutes})}")
    data = answer.data
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        raise Unreachable(
            f"{ctx.client.url} answered /status with something else than a status; "
            "is this the provisioning admin API (with GET /status)?"
        )
    ctx.show(answer, render)
    if not data.get("healthy"):
        problems = len(data.get("problems") or [])
        raise Unhealthy(f"not healthy: {problems} problem{'s' * (problems != 1)} (see above)")


def render(data: dict[str, Any]) -> str:
    """The status for people: services (``UP``: how long the youngest replica has run),
    tool calls, busiest tools, the expiry schedule, problems."""
    parts = [_services(data["services"]), _calls(data.get("calls"))]
    scheduled = data.get("expiry_scheduled")
    if scheduled is not None:
        parts.append(f"Expiry schedule: {scheduled} server{'s' * (scheduled != 1)} waiting\n")
    problems = data.get("problems") or []
    parts.append(
        "Problems:\n" + "".join(f"  - {p}\n" for p in problems) if problems else "No problems.\n"
    )
    return "\n".join(part for part in parts if part)


def _services(services: list[dict[str, Any]]) -> str:
    now = utcnow()
    rows = []
    for view in services:
        instances = view.get("instances") or []
        started = [t for i in instances if (t := parse_time(str(i.get("started_at"))))]
        youngest = max(started, default=None)  # a replica that restarted shows here
        rows.append(
            [
                view["service"],
                str(view["replicas"]),
                f"{view['ready']}/{view['replicas']}",
                ",".join(view.get("versions") or []) or "-",
                relative(youngest, now).removesuffix(" ago") if youngest else "-",
                _notes(instances),
            ]
        )
    return table(("SERVICE", "REPLICAS", "READY", "VERSION", "UP", "NOTES"), rows)


def _notes(instances: list[dict[str, Any]]) -> str:
    if not instances:
        return "MISSING"
    notes = []
    for instance in instances:
        if not instance.get("ready"):
            failing = [name for name, ok in (instance.get("checks") or {}).items() if not ok]
            notes.append(f"{instance['instance_id']} not ready ({', '.join(failing) or '?'})")
    details: dict[str, Any] = {}
    for instance in instances:
        details.update(instance.get("details") or {})
    notes += [f"{name} {value}" for name, value in sorted(details.items())]
    return "; ".join(notes)


def _calls(calls: dict[str, Any] | None) -> str:
    if calls is None:
        return "Tool calls: unknown (the audit trail cannot be read)\n"
    window = f"last {calls['minutes']:g} min" + ("" if calls["complete"] else ", newest only")
    head = (
        f"Tool calls, {window}: {calls['calls']} ({calls['per_minute']:g}/min), "
        f"errors {calls['errors']} ({calls['error_rate']:.1%}), "
        f"p50 {_ms(calls['p50_ms'])}, p99 {_ms(calls['p99_ms'])}, "
        f"upstream 429s {calls['upstream_429']}\n"
    )
    tools = calls.get("tools") or []
    if not tools:
        return head
    rows = [
        [
            t["tool"],
            str(t["calls"]),
            f"{t['errors']} ({t['error_rate']:.0%})",
            _ms(t["p50_ms"]),
            _ms(t["p99_ms"]),
            str(t["upstream_429"]),
        ]
        for t in tools
    ]
    return head + table(("TOOL", "CALLS", "ERRORS", "P50", "P99", "429S"), rows)


def _ms(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value / 1000:.1f}s" if value >= 1000 else f"{value:.0f}ms"
