"""Metrics out of the real system both ways: OTLP push to a receiver on 127.0.0.1 and each
service's ``/metrics``, after a scripted set of calls (ok, tool error, upstream 429, hidden tool).

The shape is the production one (three NATS nodes, Valkey, two gateways, two workers,
provisioning, two expiry replicas) with a sandbox of this module's own, whose rate limit the
test turns on. Every service pushes to the receiver every 300 ms; the test waits until the
pushed cumulative counts equal what ``/metrics`` says, and checks both against the calls it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tests.support.distributed import Distributed, distributed_shape, sandbox_running, until
from tests.support.otlp import MetricsCollector, metrics_collector
from tests.support.sandbox import RunningSandbox

pytestmark = pytest.mark.e2e

READ = "list_all_better_stack_incidents"
GET = "get_single_better_stack_incident_by_id"
HIDDEN = "better_stack_incidents_resolve"
TOOL_CALLS = "stackmcp.tool_calls"
UPSTREAM = "stackmcp.upstream.request.duration"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    with sandbox_running(tmp_path_factory.mktemp("metrics-sandbox")) as running:
        yield running


@pytest.fixture(scope="module")
def collector() -> Iterator[MetricsCollector]:
    with metrics_collector() as running:
        yield running


@pytest.fixture(scope="module")
def system(
    sandbox: RunningSandbox,
    collector: MetricsCollector,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Distributed]:
    with distributed_shape(
        tmp_path_factory.mktemp("metrics"),
        sandbox,
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=collector.endpoint,
        OTEL_METRIC_EXPORT_INTERVAL="300",
    ) as shape:
        yield shape


async def calls(url: str, sandbox: RunningSandbox) -> None:
    """One ok call, one tool error, one hidden tool, then one call Better Stack answers 429."""
    async with (
        create_mcp_http_client() as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        assert not (await mcp.call_tool(READ, {"limit": 1})).is_error
        assert (await mcp.call_tool(GET, {"incident_id": "0"})).is_error
        with contextlib.suppress(MCPError):
            await mcp.call_tool(HIDDEN, {"incident_id": "7"})
        assert (
            sandbox.admin("PATCH", "knobs", {"rate_limit": 0.01, "rate_limit_burst": 1}).status_code
            == 200
        )
        try:
            for _ in range(2):  # the first may still fit the burst
                await mcp.call_tool(GET, {"incident_id": "7"})
        finally:
            assert sandbox.admin("PATCH", "knobs", {"rate_limit": 0}).status_code == 200


def scraped(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``/metrics`` samples of ``name``: sorted non-empty labels → value (the exporter's
    ``otel_scope_*`` labels left out: OTLP carries the scope apart)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for line in text.splitlines():
        match = re.match(rf"{re.escape(name)}\{{(.*)\}} (\S+)$", line)
        if match:
            pairs = re.findall(r'(\w+)="([^"]*)"', match[1])
            labels = tuple(sorted((k, v) for k, v in pairs if v and not k.startswith("otel_scope")))
            found[labels] = float(match[2])
    return found


def pushed(collector: MetricsCollector, name: str, *, count: bool = False) -> dict[Any, float]:
    """The latest pushed value of each series of ``name``, summed over the services' resources
    (labels as in Prometheus: dots become underscores)."""
    latest: dict[tuple[Any, Any], float] = {}
    for request in list(collector.requests):
        for resource in request.resource_metrics:
            owner = tuple((kv.key, kv.value.string_value) for kv in resource.resource.attributes)
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    points = metric.histogram.data_points if count else metric.sum.data_points
                    for point in points:
                        labels = tuple(
                            sorted(
                                (
                                    kv.key.replace(".", "_"),
                                    kv.value.string_value or str(kv.value.int_value),
                                )
                                for kv in point.attributes
                            )
                        )
                        latest[(owner, labels)] = float(point.count if count else point.as_int)
    total: dict[Any, float] = {}
    for (_, labels), value in latest.items():
        total[labels] = total.get(labels, 0.0) + value
    return total


def key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_pushed_metrics_match_the_calls_and_every_scrape(
    system: Distributed, sandbox: RunningSandbox, collector: MetricsCollector
) -> None:
    server = system.create_server(
        name="metered", config={"methods": ["read"], "tags": ["incidents"]}
    )
    asyncio.run(calls(system.mcp_url(server, 0), sandbox))
    gateway = system.gateways[0].url
    tool_calls = scraped(gateway, "stackmcp_tool_calls_total")
    ok = key(gen_ai_tool_name=READ, stackmcp_outcome="ok")
    hidden = key(error_type="tool_hidden", gen_ai_tool_name=HIDDEN, stackmcp_outcome="refused")
    assert tool_calls[ok] == 1
    assert tool_calls[hidden] == 1
    gets = {k: v for k, v in tool_calls.items() if dict(k).get("gen_ai_tool_name") == GET}
    assert sum(gets.values()) == 3
    assert (
        tool_calls[key(error_type="not_found", gen_ai_tool_name=GET, stackmcp_outcome="tool_error")]
        == 1
    )
    assert (
        tool_calls[
            key(error_type="rate_limited", gen_ai_tool_name=GET, stackmcp_outcome="tool_error")
        ]
        >= 1
    )
    upstream_429 = {
        k: v
        for worker in system.workers
        for k, v in scraped(worker.url, "stackmcp_upstream_request_duration_seconds_count").items()
        if dict(k).get("http_response_status_code") == "429"
    }
    assert sum(upstream_429.values()) >= 1

    def agree() -> bool:
        calls_pushed = pushed(collector, TOOL_CALLS)
        if any(calls_pushed.get(k) != v for k, v in tool_calls.items()):
            return False
        limited = {
            k: v
            for k, v in pushed(collector, UPSTREAM, count=True).items()
            if dict(k).get("http_response_status_code") == "429"
        }
        return sum(limited.values()) == sum(upstream_429.values())

    asyncio.run(until(agree, 20, "pushed metrics agreeing with /metrics"))
    services = collector.service_names()
    assert {
        "stackmcp-gateway",
        "stackmcp-betterstack-worker",
        "stackmcp-provisioning",
        "stackmcp-expiry",
    } <= services
