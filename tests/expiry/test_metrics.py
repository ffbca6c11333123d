"""Expiry's metrics read back through an in-memory reader of a provider of the test's own (the
global provider is never touched): purges counted with their lag, the schedule's size kept as
the purge loop last read it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from stackmcp.contracts import McpServerExpired, RedisKeys
from stackmcp.expiry.metrics import ExpiryMetrics
from stackmcp.expiry.purger import Purger
from stackmcp.expiry.schedule import Schedule
from tests.expiry.support import Provisioner, eventually

pytestmark = pytest.mark.integration


def _points(reader: InMemoryMetricReader) -> dict[str, Any]:
    """The one data point of each metric, by name."""
    data = reader.get_metrics_data()
    if data is None:
        return {}
    return {
        metric.name: metric.data.data_points[0]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.data.data_points
    }


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def metrics(reader: InMemoryMetricReader) -> ExpiryMetrics:
    return ExpiryMetrics(MeterProvider(metric_readers=[reader]).get_meter("test"))


async def _published(_event: McpServerExpired) -> None:
    """JetStream is not part of these tests: every publish succeeds."""


def test_nothing_is_reported_before_the_schedule_was_read(
    metrics: ExpiryMetrics, reader: InMemoryMetricReader
) -> None:
    """No scheduled-size point until the purge loop has looked (not a misleading 0)."""
    assert "stackmcp.expiry.scheduled" not in _points(reader)
    metrics.schedule_read(0)
    assert _points(reader)["stackmcp.expiry.scheduled"].value == 0


async def test_a_purge_is_counted_with_its_lag_and_the_schedule_size_is_kept(
    store: Provisioner, keys: RedisKeys, metrics: ExpiryMetrics, reader: InMemoryMetricReader
) -> None:
    """Two servers overdue by about 3 s and one due in an hour: two purges, each with a lag of
    about 3 s, and one server left in the schedule."""
    schedule = Schedule(store.redis, keys)
    servers = [await store.create(expires_in=e) for e in (-3, -3, 3600)]
    for server in servers:
        await schedule.sync(server.id)
    purger = Purger(schedule, _published, max_sleep=0.05, metrics=metrics)
    stop = asyncio.Event()
    loop = asyncio.create_task(purger.run(stop))
    try:

        async def settled() -> bool:
            points = _points(reader)
            purged = points.get("stackmcp.expiry.purged")
            scheduled = points.get("stackmcp.expiry.scheduled")
            return bool(purged and scheduled and (purged.value, scheduled.value) == (2, 1))

        await eventually(settled, timeout=5)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    points = _points(reader)
    lag = points["stackmcp.expiry.purge.lag"]
    assert lag.count == 2
    assert 2 * 2.5 <= lag.sum <= 2 * 10
    assert metrics.scheduled == 1
