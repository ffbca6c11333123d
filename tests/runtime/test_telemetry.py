"""OpenTelemetry from the standard OTEL_* variables: OTLP export only when configured."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from stackmcp.runtime.telemetry import extract_context, inject_headers, setup_tracing

_CHILD = """
from stackmcp.runtime.telemetry import setup_tracing, tracer
provider = setup_tracing("fallback-name")
with tracer("probe").start_as_current_span("probe-span-7f3a"):
    pass
provider.shutdown()
"""


class _Collector(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A real HTTP server on 127.0.0.1 standing in for an OTLP/HTTP collector."""
    _Collector.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Collector.received
    server.shutdown()
    server.server_close()
    thread.join(5)


def _run_child(env: dict[str, str]) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "STACKMCP_"))}
    subprocess.run([sys.executable, "-c", _CHILD], env={**clean, **env}, check=True, timeout=60)


def test_spans_are_exported_over_otlp_when_an_endpoint_is_set(
    collector: tuple[str, list[tuple[str, str, bytes]]],
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME are honoured by a real export."""
    url, received = collector
    _run_child({"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_SERVICE_NAME": "svc-from-env"})
    assert [path for path, _, _ in received] == ["/v1/traces"]
    _, content_type, body = received[0]
    assert content_type == "application/x-protobuf"
    assert b"probe-span-7f3a" in body
    assert b"svc-from-env" in body
    assert b"fallback-name" not in body


def test_nothing_is_exported_when_no_endpoint_or_exporter_none(
    collector: tuple[str, list[tuple[str, str, bytes]]],
) -> None:
    """Without an endpoint, or with OTEL_TRACES_EXPORTER=none, no exporter is installed."""
    url, received = collector
    _run_child({"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_TRACES_EXPORTER": "none"})
    assert received == []
    provider = setup_tracing("x", environ={})
    assert provider._active_span_processor._span_processors == ()
    provider.shutdown()


def test_trace_context_survives_a_header_round_trip() -> None:
    """inject_headers writes W3C traceparent that extract_context reads back."""
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.trace import get_current_span  # noqa: PLC0415

    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("outer") as span:
        headers = inject_headers({"x": "1"})
    assert headers["x"] == "1"
    version, trace_id, _span_id, flags = headers["traceparent"].split("-")
    assert version == "00"
    assert int(flags, 16) & 0x01  # sampled
    assert int(trace_id, 16) == span.get_span_context().trace_id
    restored = get_current_span(extract_context(headers)).get_span_context()
    assert restored.span_id == span.get_span_context().span_id
    assert extract_context(None) == extract_context({})
