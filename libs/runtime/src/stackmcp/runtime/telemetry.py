"""OpenTelemetry set-up from the standard ``OTEL_*`` variables, and W3C context over NATS.

Nothing is exported unless an OTLP endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) and ``OTEL_TRACES_EXPORTER`` is not ``none``; spans are
still created so trace ids reach logs and propagate to other services.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = [
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
    provider = TracerProvider(resource=service_resource(service_name, env))
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


def tracer(name: str) -> trace.Tracer:
    """Return the tracer for instrumentation scope ``name``."""
    return trace.get_tracer(name)


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """Return ``headers`` with the current W3C ``traceparent``/``tracestate`` added."""
    carrier = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, str] | None) -> Context:
    """Return the trace context carried by NATS message ``headers`` (empty when absent)."""
    return propagate.extract(dict(headers or {}))
