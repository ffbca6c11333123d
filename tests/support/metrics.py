"""The test process's meter provider and reading the Prometheus text it serves.

OpenTelemetry takes one global meter provider per process, so every test that reads
``/metrics`` shares the one :func:`installed_metrics` sets up, and compares counts before and
after what it does (other tests in the process record too).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client.parser import text_string_to_metric_families

from stackmcp.runtime.metrics import setup_metrics

SERVICE = "stackmcp-test"


@functools.cache
def installed_metrics() -> MeterProvider:
    """The process's global provider, with its Prometheus reader (set up on first use)."""
    return setup_metrics(SERVICE, environ={})


def sample(text: bytes | str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The value of sample ``name`` whose labels are exactly ``labels`` (see :func:`samples`);
    0 when there is none."""
    wanted = dict(labels or {})
    return next((value for own, value in _samples(text, name) if own == wanted), 0.0)


def samples(text: bytes | str, name: str) -> list[dict[str, str]]:
    """The labels of every sample called ``name``, without the exporter's ``otel_scope_*``
    labels and without empty ones (the exporter gives every series of a metric the same label
    names; an empty label is an absent one, as in PromQL)."""
    return [own for own, _ in _samples(text, name)]


def _samples(text: bytes | str, name: str) -> list[tuple[dict[str, str], float]]:
    content = text.decode() if isinstance(text, bytes) else text
    return [
        (
            {k: v for k, v in found.labels.items() if v and not k.startswith("otel_scope_")},
            float(found.value),
        )
        for family in text_string_to_metric_families(content)
        for found in family.samples
        if found.name == name
    ]
