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
from opentelemetry.context import Context

from stackmcp.runtime.telemetry import (
    Tracer,
    TracingProvider,
    extract_context,
    inject_headers,
    service_resource,
    setup_tracing,
)

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


def _remote(flags: int, state: str = "") -> Context:
    from opentelemetry.trace import (  # noqa: PLC0415
        NonRecordingSpan,
        SpanContext,
        TraceFlags,
        TraceState,
        set_span_in_context,
    )

    parent = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(flags),
        trace_state=TraceState.from_header([state]) if state else None,
    )
    return set_span_in_context(NonRecordingSpan(parent))


@pytest.mark.parametrize(
    "parent",
    [None, (0x01, ""), (0x00, ""), (0x03, "vendor=abc,other=1"), (0x02, "v=1")],
    ids=["root", "sampled", "not-sampled", "sampled-random-state", "not-sampled-random"],
)
def test_unread_spans_carry_the_ids_and_flags_the_sdk_gives(parent: tuple[int, str] | None) -> None:
    """With nothing reading spans, a span is not recorded but its context is the SDK's: the
    parent's trace, a new span id, the sampled and random flags and the trace state the
    default sampler would give."""
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    context = None if parent is None else _remote(*parent)
    provider = TracingProvider(resource=service_resource("t", {}))
    assert provider.lean()
    lean = Tracer("t", provider=lambda: provider)
    with lean.start_as_current_span("op", context, attributes={"a": 1}) as span:
        assert not span.is_recording()
        headers = inject_headers()
        with lean.start_as_current_span("child") as child:
            pass
    sdk_span = TracerProvider().get_tracer("t").start_span("op", context)
    ours, theirs = span.get_span_context(), sdk_span.get_span_context()
    assert ours.is_valid
    assert not ours.is_remote
    assert (ours.trace_flags, ours.trace_state) == (theirs.trace_flags, theirs.trace_state)
    if parent is None:
        assert ours.trace_id != theirs.trace_id  # each a new trace
    else:
        assert ours.trace_id == theirs.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert ours.span_id not in (0xB7AD6B7169203331, theirs.span_id)
    inner = child.get_span_context()
    assert (inner.trace_id, inner.trace_flags) == (ours.trace_id, ours.trace_flags)
    assert inner.span_id != ours.span_id
    assert (
        headers["traceparent"]
        == f"00-{ours.trace_id:032x}-{ours.span_id:016x}-{theirs.trace_flags:02x}"
    )


def test_a_span_processor_turns_recording_back_on() -> None:
    """Adding a processor (as a test's in-memory exporter does) records the next span, with
    its name, kind and attributes; the current span is restored after each block."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )
    from opentelemetry.trace import INVALID_SPAN, SpanKind, get_current_span  # noqa: PLC0415

    provider = TracingProvider(resource=service_resource("t", {}))
    tracer_ = Tracer("scope", provider=lambda: provider)
    with pytest.raises(ValueError, match="boom"), tracer_.start_as_current_span("lean"):
        raise ValueError("boom")
    assert get_current_span() is INVALID_SPAN
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert not provider.lean()
    with tracer_.start_as_current_span("kept", kind=SpanKind.CLIENT, attributes={"a": 1}) as span:
        assert span.is_recording()
    assert get_current_span() is INVALID_SPAN
    [finished] = exporter.get_finished_spans()
    assert (finished.name, finished.kind, dict(finished.attributes or {})) == (
        "kept",
        SpanKind.CLIENT,
        {"a": 1},
    )
    assert finished.instrumentation_scope is not None
    assert finished.instrumentation_scope.name == "scope"


def test_another_sampler_or_a_disabled_sdk_keeps_the_sdk_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OTEL_TRACES_SAMPLER or OTEL_SDK_DISABLED: spans go the SDK's way (sampled or not by
    that sampler; invalid when disabled)."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider = TracingProvider(resource=service_resource("t", {}))
    assert not provider.lean()
    with Tracer("t", provider=lambda: provider).start_as_current_span("op") as span:
        assert not span.get_span_context().trace_flags.sampled
    monkeypatch.delenv("OTEL_TRACES_SAMPLER")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    disabled = TracingProvider(resource=service_resource("t", {}))
    assert not disabled.lean()
    with Tracer("t", provider=lambda: disabled).start_as_current_span("op") as span:
        assert not span.get_span_context().is_valid
