"""The metrics set-up: Prometheus text with the catalogue's buckets, OTLP push with exemplars."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.trace import TracerProvider

from stackmcp.embedded import free_port
from stackmcp.runtime.health import HealthConfig, HealthServer
from stackmcp.runtime.metrics import DURATION_BUCKETS, Tally, prometheus_text, setup_metrics
from tests.support.metrics import SERVICE, installed_metrics, sample
from tests.support.otlp import MetricsCollector, metrics_collector

_meter = metrics.get_meter("tests.runtime.metrics")
_durations = _meter.create_histogram("stackmcp.test.duration", unit="s")
_events = _meter.create_counter("stackmcp.test.events")
_tallied: Tally[str] = Tally(_meter, "stackmcp.test.tallied", lambda k: {"stackmcp.result": k})
_open: Tally[None] = Tally(_meter, "stackmcp.test.open", lambda _: {}, up_down=True)


def test_instruments_show_in_the_prometheus_text_with_the_catalogue_buckets() -> None:
    installed_metrics()
    labels = {"stackmcp_outcome": "ok"}
    before = sample(prometheus_text(), "stackmcp_test_duration_seconds_count", labels)
    _durations.record(0.004, {"stackmcp.outcome": "ok"})
    _events.add(2, {"stackmcp.outcome": "ok"})
    text = prometheus_text()
    assert sample(text, "stackmcp_test_duration_seconds_count", labels) == before + 1
    assert sample(text, "stackmcp_test_duration_seconds_bucket", {**labels, "le": "0.0025"}) == 0
    assert sample(text, "stackmcp_test_duration_seconds_bucket", {**labels, "le": "0.005"}) >= 1
    assert sample(text, "stackmcp_test_duration_seconds_bucket", {**labels, "le": "60"}) >= 1
    assert sample(text, "stackmcp_test_events_total", labels) >= 2
    assert f'service_name="{SERVICE}"'.encode() in text  # target_info: the tracing resource


def test_tallies_show_as_a_counter_and_a_gauge() -> None:
    installed_metrics()
    before = sample(prometheus_text(), "stackmcp_test_tallied_total", {"stackmcp_result": "hit"})
    _tallied.add("hit")
    _tallied.add("hit", 2)
    _tallied.add("miss")
    _open.add(None, 3)
    _open.add(None, -1)
    text = prometheus_text()
    assert sample(text, "stackmcp_test_tallied_total", {"stackmcp_result": "hit"}) == before + 3
    assert sample(text, "stackmcp_test_tallied_total", {"stackmcp_result": "miss"}) >= 1
    assert sample(text, "stackmcp_test_open") == 2
    assert b"# TYPE stackmcp_test_open gauge" in text


async def test_the_health_listener_serves_the_prometheus_text() -> None:
    installed_metrics()
    _events.add(1, {"stackmcp.outcome": "health"})
    server = HealthServer(HealthConfig(port=free_port()), lambda: True)
    await server.start()
    try:
        assert server.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: scrape\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    finally:
        await server.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"Content-Type: text/plain; version=0.0.4" in head
    assert sample(body, "stackmcp_test_events_total", {"stackmcp_outcome": "health"}) >= 1


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[MetricsCollector]:
    with metrics_collector() as running:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", running.endpoint)  # the exporter
        yield running


def test_otlp_push_carries_the_buckets_and_an_exemplar_with_the_trace_id(
    collector: MetricsCollector,
) -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": collector.endpoint,
        "OTEL_SERVICE_NAME": "stackmcp-gateway",
    }
    provider = setup_metrics("svc", environ=environ, install=False)
    histogram = provider.get_meter("t").create_histogram("stackmcp.test.duration", unit="s")
    tracer = TracerProvider().get_tracer("t")
    try:
        with tracer.start_as_current_span("call") as span:
            histogram.record(0.2, {"stackmcp.outcome": "ok"})
        assert provider.force_flush(timeout_millis=10_000)
    finally:
        provider.shutdown()
    (metric, *_) = collector.metrics("stackmcp.test.duration")
    assert metric.unit == "s"
    (point,) = metric.histogram.data_points
    assert tuple(point.explicit_bounds) == DURATION_BUCKETS
    assert point.count == 1
    trace_id = span.get_span_context().trace_id.to_bytes(16, "big")
    assert [e.trace_id for e in point.exemplars] == [trace_id]
    assert collector.service_names() == {"stackmcp-gateway"}


@pytest.mark.parametrize(
    "environ",
    [{}, {"OTEL_METRICS_EXPORTER": "none"}, {"OTEL_SDK_DISABLED": "true"}],
    ids=["no-endpoint", "exporter-none", "sdk-disabled"],
)
def test_nothing_is_pushed_without_an_endpoint_or_with_export_off(
    collector: MetricsCollector, environ: dict[str, str]
) -> None:
    if environ:
        environ = {**environ, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}
    provider = setup_metrics("svc", environ=environ, install=False)
    provider.get_meter("t").create_counter("stackmcp.test.events").add(1)
    provider.force_flush(timeout_millis=10_000)  # a push reader would export now
    provider.shutdown()
    assert collector.requests == []
