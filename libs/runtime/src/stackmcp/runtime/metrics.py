"""OpenTelemetry metrics: the SDK set-up, a Prometheus text scrape, OTLP push when configured.

Services record through the OpenTelemetry API only (``metrics.get_meter("stackmcp.<service>")``,
module-level instruments are fine: they bind to the provider once it is installed).
:func:`setup_metrics` installs the SDK provider behind them, with the same resource as tracing:

* a Prometheus reader, always (unless ``OTEL_SDK_DISABLED=true``): :func:`prometheus_text` is the
  body of a ``/metrics`` answer, served with :data:`PROMETHEUS_CONTENT_TYPE`;
* an OTLP/HTTP push reader when ``OTEL_METRICS_EXPORTER`` is not ``none`` and an OTLP endpoint
  is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``),
  every ``OTEL_METRIC_EXPORT_INTERVAL`` milliseconds;
* histogram buckets for every ``*.duration`` (:data:`DURATION_BUCKETS`) and the purge lag;
* the SDK's trace-based exemplar filter (``OTEL_METRICS_EXEMPLAR_FILTER``), so histogram points
  pushed over OTLP carry the trace id of a sampled call.

Counts made on every call go through a :class:`Tally` rather than an SDK counter: an SDK
``add`` costs about what a histogram's ``record`` does (10-15 µs: attribute checks, hashing,
exemplars), a tally's is a dictionary update; the exported series are the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Mapping
from typing import Generic, TypeVar

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest

from stackmcp.runtime.telemetry import service_resource

__all__ = [
    "DURATION_BUCKETS",
    "PROMETHEUS_CONTENT_TYPE",
    "PURGE_LAG_BUCKETS",
    "Tally",
    "prometheus_text",
    "setup_metrics",
]

K = TypeVar("K", bound=Hashable)
Attributes = Mapping[str, str | int]

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Bucket bounds (seconds) of every ``*.duration`` histogram."""
PURGE_LAG_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300)
"""Bucket bounds (seconds) of ``stackmcp.expiry.purge.lag``."""
PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The content type of :func:`prometheus_text` (text format 0.0.4)."""

_VIEWS = (
    View(
        instrument_type=Histogram,
        instrument_name="*.duration",
        aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS),
    ),
    View(
        instrument_type=Histogram,
        instrument_name="stackmcp.expiry.purge.lag",
        aggregation=ExplicitBucketHistogramAggregation(PURGE_LAG_BUCKETS),
    ),
)
_installed: CollectorRegistry | None = None


def setup_metrics(
    service_name: str,
    *,
    environ: Mapping[str, str] | None = None,
    readers: tuple[MetricReader, ...] = (),
    install: bool = True,
) -> MeterProvider:
    """Build this process's meter provider and, with ``install``, make it the global one that
    instruments and :func:`prometheus_text` use (OpenTelemetry allows that once per process).

    Args:
        service_name: used when ``OTEL_SERVICE_NAME`` is not set.
        environ: variables to read (``os.environ`` when omitted; the OTLP exporter itself
            reads its endpoint, headers and timeouts from ``os.environ``).
        readers: extra readers (tests pass an in-memory one).
        install: set the global meter provider and serve its Prometheus text.

    Returns:
        The provider; call ``shutdown()`` on it at exit to push what is pending.
    """
    global _installed  # noqa: PLW0603 - one provider per process, like OpenTelemetry's own
    env = os.environ if environ is None else environ
    every: list[MetricReader] = list(readers)
    registry = None
    if env.get("OTEL_SDK_DISABLED", "").lower() != "true":
        registry = CollectorRegistry(auto_describe=False)
        every.append(PrometheusMetricReader(registry=registry))
        if _push_enabled(env):
            every.append(_otlp_reader())
    provider = MeterProvider(
        metric_readers=every, resource=service_resource(service_name, env), views=_VIEWS
    )
    if install:
        metrics.set_meter_provider(provider)  # only the first one takes (a warning otherwise)
        if metrics.get_meter_provider() is provider:
            _installed = registry
    return provider


def _push_enabled(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_METRICS_EXPORTER", "otlp").lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    )


def _otlp_reader() -> MetricReader:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
        OTLPMetricExporter,
    )

    # The reader takes its interval from OTEL_METRIC_EXPORT_INTERVAL (default 60 s).
    return PeriodicExportingMetricReader(OTLPMetricExporter())


def prometheus_text() -> bytes:
    """The installed provider's metrics in the Prometheus text format (empty before
    :func:`setup_metrics` installed one, or with the SDK disabled)."""
    if _installed is None:
        return b""
    return generate_latest(_installed)


class Tally(Generic[K]):
    """A counter kept as plain integers per key, reported at each collection.

    Args:
        meter: the meter it reports through.
        name: the instrument's name.
        attributes: the attributes of a key (called at collection only; keys must be few).
        unit: the instrument's unit.
        description: the instrument's description.
        up_down: an up-down counter (it may go down) rather than a counter.
    """

    def __init__(
        self,
        meter: Meter,
        name: str,
        attributes: Callable[[K], Attributes],
        *,
        unit: str = "",
        description: str = "",
        up_down: bool = False,
    ) -> None:
        self._counts: dict[K, int] = {}
        self._attributes = attributes
        create = (
            meter.create_observable_up_down_counter if up_down else meter.create_observable_counter
        )
        create(name, [self._observe], unit=unit, description=description)

    def add(self, key: K, amount: int = 1) -> None:
        """Add ``amount`` to the count of ``key`` (on the event loop's thread only)."""
        self._counts[key] = self._counts.get(key, 0) + amount

    def _observe(self, _: CallbackOptions) -> list[Observation]:
        # A reader's thread may collect while the loop adds: list() copies in one step.
        return [Observation(n, self._attributes(k)) for k, n in list(self._counts.items())]
