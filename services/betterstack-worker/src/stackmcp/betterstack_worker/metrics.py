"""The worker's metrics: every instrument in one place, one call per thing observed.

Names, kinds and attributes follow the metric catalogue; the SDK behind them is set up by
:mod:`stackmcp.runtime.metrics`. The histogram reuses one attribute dict per combination of
values; counts are :class:`~stackmcp.runtime.metrics.Tally` updates. An upstream request is
named by its route template, never its path (the path holds ids).
"""

from __future__ import annotations

from opentelemetry import metrics

from stackmcp.runtime.metrics import Tally

__all__ = ["call_finished", "call_started", "dropped", "upstream_request"]

Attributes = dict[str, str | int]

_meter = metrics.get_meter("stackmcp.betterstack_worker")
_upstream = _meter.create_histogram(
    "stackmcp.upstream.request.duration", unit="s", description="Requests to Better Stack"
)
_in_flight: Tally[None] = Tally(
    _meter,
    "stackmcp.worker.calls.in_flight",
    lambda _: {},
    unit="{call}",
    description="Tool calls being run",
    up_down=True,
)
_in_flight.add(None, 0)  # the series exists from the start: an idle worker still reports
_dropped: Tally[str] = Tally(
    _meter,
    "stackmcp.worker.dropped",
    lambda reason: {"stackmcp.reason": reason},
    unit="{call}",
    description="Tool calls left unanswered: past their deadline, or a write claimed elsewhere",
)

_upstream_attributes: dict[tuple[str, str, int | str], Attributes] = {}


def upstream_request(method: str, route: str, outcome: int | str, seconds: float) -> None:
    """One upstream request: ``outcome`` is the response status, or ``timeout``/``connect``
    when there was no response."""
    key = (method, route, outcome)
    attributes = _upstream_attributes.get(key)
    if attributes is None:
        attributes = _upstream_attributes[key] = {
            "http.request.method": method,
            "http.route": route,
            "http.response.status_code" if isinstance(outcome, int) else "error.type": outcome,
        }
    _upstream.record(seconds, attributes)


def call_started() -> None:
    """A tool call began running here."""
    _in_flight.add(None)


def call_finished() -> None:
    """A tool call running here ended (answered or not)."""
    _in_flight.add(None, -1)


def dropped(reason: str) -> None:
    """A tool call was left unanswered: ``deadline`` or ``claimed``."""
    _dropped.add(reason)
