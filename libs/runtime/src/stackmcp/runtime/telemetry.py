"""OpenTelemetry set-up from the standard ``OTEL_*`` variables, and W3C context over NATS.

Nothing is exported unless an OTLP endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) and ``OTEL_TRACES_EXPORTER`` is not ``none``; spans are
still created so trace ids reach logs, audit records and exemplars and propagate to other
services.

While no span processor would read them (nothing exported, none added) and the sampler is the
default one, :func:`tracer`'s spans are *not recorded*: each gets the ids and trace flags the
SDK would give it (same trace, a new span id, the parent's sampled flag and trace state), but no
attributes, events or timings are kept for nobody. Recording an SDK span costs about 25 µs, four
of them a third of the tracing cost of a ``tools/call``; adding a span processor (a test's
in-memory exporter) turns recording back on at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from opentelemetry.util.types import Attributes

__all__ = [
    "Tracer",
    "TracingProvider",
    "extract_context",
    "inject_headers",
    "service_resource",
    "setup_tracing",
    "tracer",
]


def setup_tracing(
    service_name: str,
    *,
    environ: Mapping[str, str] | None = None,
    processors: tuple[SpanProcessor, ...] = (),
) -> TracerProvider:
    """Install a global tracer provider for this process.

    Args:
        service_name: used when ``OTEL_SERVICE_NAME`` is not set.
        environ: variables to read (``os.environ`` when omitted).
        processors: extra span processors (tests pass an in-memory exporter).

    Returns:
        The provider; call ``shutdown()`` on it at exit to flush spans.
    """
    env = os.environ if environ is None else environ
    provider = TracingProvider(resource=service_resource(service_name, env))
    if _export_enabled(env):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    for processor in processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider


def service_resource(service_name: str, environ: Mapping[str, str]) -> Resource:
    """The OpenTelemetry resource of this process: ``OTEL_SERVICE_NAME``, else ``service_name``
    (plus what ``OTEL_RESOURCE_ATTRIBUTES`` adds); traces and metrics share it."""
    return Resource.create({SERVICE_NAME: environ.get("OTEL_SERVICE_NAME", service_name)})


def _export_enabled(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


class TracingProvider(TracerProvider):
    """The SDK's provider, knowing whether any span processor reads what a span records."""

    def __init__(self, *, resource: Resource) -> None:
        super().__init__(resource=resource)
        # The SDK reads this from the process environment too; disabled, its tracers make
        # invalid spans, which only the SDK's own path reproduces.
        disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
        self.unread = not disabled
        """No span processor was added (and the SDK is enabled): a recorded span would go
        nowhere."""

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        """Add ``span_processor``; spans are recorded from now on."""
        self.unread = False
        super().add_span_processor(span_processor)

    def lean(self) -> bool:
        """Whether spans may go unrecorded: nothing reads them and the default sampler decides
        (another sampler, ``OTEL_TRACES_SAMPLER``, or a disabled SDK goes the SDK's way)."""
        return self.unread and self.sampler is sampling.DEFAULT_ON


class Tracer:
    """The tracer of one instrumentation scope (from :func:`tracer`): the SDK's, except that
    spans nobody reads are not recorded (see the module docstring).

    Args:
        name: the instrumentation scope.
        provider: where the current tracer provider comes from (tests pass their own).
    """

    def __init__(
        self,
        name: str,
        provider: Callable[[], trace.TracerProvider] = trace.get_tracer_provider,
    ) -> None:
        self._name = name
        self._provider = provider
        self._cached: tuple[trace.TracerProvider, trace.Tracer] | None = None

    def _sdk(self, provider: trace.TracerProvider) -> trace.Tracer:
        cached = self._cached
        if cached is None or cached[0] is not provider:
            cached = self._cached = (provider, provider.get_tracer(self._name))
        return cached[1]

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
    ) -> Span:
        """Start a span (not made current); the caller ends it."""
        provider = self._provider()
        if isinstance(provider, TracingProvider) and provider.lean():
            return _unrecorded(provider, context)
        return self._sdk(provider).start_span(
            name, context, kind=kind, attributes=attributes, links=links
        )

    def start_as_current_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
    ) -> AbstractContextManager[Span]:
        """Start a span, current inside the ``with`` block and ended when it exits (a recorded
        span also records an exception escaping the block, and its status)."""
        provider = self._provider()
        if isinstance(provider, TracingProvider) and provider.lean():
            return _Current(_unrecorded(provider, context))
        return self._sdk(provider).start_as_current_span(
            name, context, kind=kind, attributes=attributes, links=links
        )


def _unrecorded(provider: TracerProvider, context: Context | None) -> Span:
    """A span with the ids and flags the SDK's default sampler would give it, unrecorded."""
    parent = trace.get_current_span(context).get_span_context()
    ids = provider.id_generator
    if parent.is_valid:
        flags = parent.trace_flags & (TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
        own = SpanContext(
            parent.trace_id,
            ids.generate_span_id(),
            is_remote=False,
            trace_flags=TraceFlags(flags),
            trace_state=parent.trace_state,
        )
    else:
        flags = TraceFlags.SAMPLED
        if ids.is_trace_id_random():
            flags |= TraceFlags.RANDOM_TRACE_ID
        own = SpanContext(
            ids.generate_trace_id(),
            ids.generate_span_id(),
            is_remote=False,
            trace_flags=TraceFlags(flags),
        )
    return NonRecordingSpan(own)


class _Current(AbstractContextManager[Span]):
    """An unrecorded span, current while the block runs (``trace.use_span`` without the
    generator: nothing to record on the way out)."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._token: object = None

    def __enter__(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]


def tracer(name: str) -> Tracer:
    """Return the tracer for instrumentation scope ``name``."""
    return Tracer(name)


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """Return ``headers`` with the current W3C ``traceparent``/``tracestate`` added."""
    carrier = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, str] | None) -> Context:
    """Return the trace context carried by NATS message ``headers`` (empty when absent)."""
    return propagate.extract(dict(headers or {}))
