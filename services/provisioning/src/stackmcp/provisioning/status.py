"""What ``GET /status`` answers: the services that answered the status ping, grouped, and the
figures of the recent tool calls read from the audit trail.

Every part is gathered at once and each may fail alone: a part that could not be read is
``null`` and named in ``problems``, so the answer always says what is known. ``healthy`` is
about the services only: each expected service answered, and every replica that answered is
ready.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import msgspec
from nats.aio.client import Client
from redis.exceptions import RedisError

from stackmcp.contracts._base import utcnow
from stackmcp.contracts.audit import ToolCallCompleted
from stackmcp.contracts.status import SERVICE_NAMES, ServiceStatus
from stackmcp.contracts.subjects import Subjects
from stackmcp.provisioning.auditlog import AuditLog, RecentCalls
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.status import DEFAULT_WAIT, gather_status

__all__ = [
    "MAX_RECORDS",
    "TOP_TOOLS",
    "CallFigures",
    "ServiceView",
    "StatusReader",
    "StatusView",
    "ToolFigures",
    "call_figures",
    "service_views",
]

MAX_RECORDS = 50_000
"""Most tool-call records one status answer reads; beyond it the newest are counted."""
TOP_TOOLS = 10
"""Tools listed by call count."""

SizeOf = Callable[[], Awaitable[int]]


class InstanceView(msgspec.Struct, frozen=True, kw_only=True):
    """One replica that answered the ping."""

    instance_id: str
    host: str
    version: str
    started_at: datetime
    ready: bool
    checks: dict[str, bool]
    """The parts of its readiness, each passing or not."""
    details: dict[str, str | int | float | bool]


class ServiceView(msgspec.Struct, frozen=True, kw_only=True):
    """The replicas of one service that answered (none: the service is missing)."""

    service: str
    replicas: int
    ready: int
    """Replicas that said they are ready."""
    versions: list[str]
    instances: list[InstanceView]


class ToolFigures(msgspec.Struct, frozen=True, kw_only=True):
    """Calls of one tool (or, for requests refused before a tool was named, one method)."""

    tool: str
    calls: int
    errors: int
    """Calls whose outcome is not ``ok``."""
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    upstream_429: int
    """Calls Better Stack answered with 429 Too Many Requests."""


class CallFigures(msgspec.Struct, frozen=True, kw_only=True):
    """Tool calls of the last minutes, overall and for the busiest tools."""

    since: datetime
    """Start of the window counted (later than asked when ``complete`` is false)."""
    minutes: float
    complete: bool
    """``False`` when the window held more than :data:`MAX_RECORDS` calls: the figures are
    about the newest ones."""
    calls: int
    per_minute: float
    errors: int
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    upstream_429: int
    tools: list[ToolFigures]
    """The :data:`TOP_TOOLS` tools with the most calls."""


class StatusView(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of ``GET /status``."""

    time: datetime
    healthy: bool
    """Every service answered and every replica that answered is ready."""
    problems: list[str]
    """What needs a look, in words; empty when all is well."""
    services: list[ServiceView]
    calls: CallFigures | None
    """``null`` when the audit trail could not be read."""
    expiry_scheduled: int | None
    """MCP servers waiting for their expiry; ``null`` when Redis could not be read."""


def service_views(answers: Sequence[ServiceStatus]) -> list[ServiceView]:
    """The answers grouped by service: every expected service first (missing ones with no
    replicas), then any other that answered."""
    grouped: dict[str, list[ServiceStatus]] = defaultdict(list)
    for answer in answers:
        grouped[answer.service].append(answer)
    names = [*SERVICE_NAMES, *sorted(set(grouped) - set(SERVICE_NAMES))]
    return [_service_view(name, grouped.get(name, [])) for name in names]


def _service_view(name: str, answers: list[ServiceStatus]) -> ServiceView:
    ordered = sorted(answers, key=lambda a: (a.host, a.started_at, a.instance_id))
    return ServiceView(
        service=name,
        replicas=len(ordered),
        ready=sum(a.ready for a in ordered),
        versions=sorted({a.version for a in ordered}),
        instances=[
            InstanceView(
                instance_id=a.instance_id,
                host=a.host,
                version=a.version,
                started_at=a.started_at,
                ready=a.ready,
                checks=a.checks,
                details=a.details,
            )
            for a in ordered
        ],
    )


def _percentile(ordered: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile of sorted values; ``None`` for none."""
    if not ordered:
        return None
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 1)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _tool_figures(tool: str, records: Sequence[ToolCallCompleted]) -> ToolFigures:
    durations = sorted(r.duration_ms for r in records)
    errors = sum(r.outcome != "ok" for r in records)
    return ToolFigures(
        tool=tool,
        calls=len(records),
        errors=errors,
        error_rate=_rate(errors, len(records)),
        p50_ms=_percentile(durations, 0.5),
        p99_ms=_percentile(durations, 0.99),
        upstream_429=sum(r.upstream_status == 429 for r in records),
    )


def call_figures(recent: RecentCalls, since: datetime, now: datetime) -> CallFigures:
    """Figures of the records of ``[since, now)`` (``since`` moves up to the first record
    counted when the read was not complete)."""
    records = recent.records
    if not recent.complete and records:
        since = max(since, records[0].time)
    minutes = max((now - since).total_seconds() / 60, 1 / 60)
    overall = _tool_figures("", records)
    by_tool: dict[str, list[ToolCallCompleted]] = defaultdict(list)
    for record in records:
        by_tool[record.tool or record.method].append(record)
    top = sorted(by_tool, key=lambda tool: (-len(by_tool[tool]), tool))[:TOP_TOOLS]
    return CallFigures(
        since=since,
        minutes=round(minutes, 2),
        complete=recent.complete,
        calls=overall.calls,
        per_minute=round(overall.calls / minutes, 3),
        errors=overall.errors,
        error_rate=overall.error_rate,
        p50_ms=overall.p50_ms,
        p99_ms=overall.p99_ms,
        upstream_429=overall.upstream_429,
        tools=[_tool_figures(tool, by_tool[tool]) for tool in top],
    )


def _problems(services: Sequence[ServiceView]) -> list[str]:
    problems = []
    for view in services:
        if not view.replicas:
            problems.append(f"{view.service}: no replica answered")
        for instance in view.instances:
            if not instance.ready:
                failing = [name for name, ok in instance.checks.items() if not ok]
                what = f" ({', '.join(failing)} failing)" if failing else ""
                problems.append(f"{view.service} {instance.instance_id}: not ready{what}")
    return problems


class StatusReader:
    """Gathers the status answer.

    Args:
        nc: NATS, to ping the services.
        subjects: the installation's subjects.
        log: the audit trail reader.
        schedule_size: how many servers wait in the expiry schedule.
        wait: seconds to wait for the services' answers.
    """

    def __init__(
        self,
        nc: Client,
        subjects: Subjects,
        log: AuditLog,
        schedule_size: SizeOf,
        *,
        wait: float = DEFAULT_WAIT,
    ) -> None:
        self._nc = nc
        self._subjects = subjects
        self._log = log
        self._schedule_size = schedule_size
        self._wait = wait

    async def report(self, minutes: int) -> StatusView:
        """The status now, with the tool calls of the last ``minutes``."""
        now = utcnow()
        since = now - timedelta(minutes=minutes)
        answers, recent, scheduled = await asyncio.gather(
            self._answers(),
            self._recent(since),
            self._scheduled(),
        )
        services = service_views(answers or [])
        problems = _problems(services)
        healthy = not problems
        if answers is None:
            problems.insert(0, "NATS is not reachable from provisioning: no service was asked")
        if recent is None:
            problems.append("the audit trail cannot be read right now: no call figures")
        if scheduled is None:
            problems.append("the expiry schedule cannot be read (Redis)")
        return StatusView(
            time=now,
            healthy=healthy,
            problems=problems,
            services=services,
            calls=call_figures(recent, since, now) if recent is not None else None,
            expiry_scheduled=scheduled,
        )

    async def _answers(self) -> list[ServiceStatus] | None:
        try:
            return await gather_status(self._nc, self._subjects, wait=self._wait)
        except Unavailable:
            return None

    async def _recent(self, since: datetime) -> RecentCalls | None:
        try:
            return await self._log.recent_calls(since, max_records=MAX_RECORDS)
        except Unavailable:
            return None

    async def _scheduled(self) -> int | None:
        try:
            return await self._schedule_size()
        except (RedisError, OSError):
            return None
