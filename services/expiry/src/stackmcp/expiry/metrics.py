"""Expiry's metrics (OpenTelemetry API only; the SDK set-up decides where they go).

``stackmcp.expiry.scheduled`` reports the schedule's size as the purge loop last read it, so a
scrape never costs a Redis round trip; ``stackmcp.expiry.purge.lag`` is how late each purge came
after its ``expires_at``; ``stackmcp.expiry.purged`` counts purges (this replica's only: the
purge script lets exactly one replica purge each server). ``stackmcp.expiry.actions.scheduled``
is the number of scheduled actions (paused monitors waiting for their resume) as the action loop
last read it, and ``stackmcp.expiry.actions.ended`` counts the actions this replica ended, by
``stackmcp.outcome`` (``done``, ``sent``, ``refused``).
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation

__all__ = ["ExpiryMetrics"]


class ExpiryMetrics:
    """The expiry instruments, fed by the purge loop.

    Args:
        meter: where the instruments are made; the global ``stackmcp.expiry`` meter by default
            (tests pass a meter of their own provider).
    """

    def __init__(self, meter: Meter | None = None) -> None:
        meter = meter or metrics.get_meter("stackmcp.expiry")
        self.scheduled: int | None = None
        """Servers in the schedule when the purge loop last looked (``None``: not yet)."""
        self._lag = meter.create_histogram(
            "stackmcp.expiry.purge.lag",
            unit="s",
            description="Time from a server's expires_at to its purge",
        )
        self._purged = meter.create_counter(
            "stackmcp.expiry.purged", description="MCP servers purged because they expired"
        )
        meter.create_observable_gauge(
            "stackmcp.expiry.scheduled",
            callbacks=[self._observe],
            description="MCP servers in the expiry schedule (as last read)",
        )
        self.actions: int | None = None
        """Scheduled actions when the action loop last looked (``None``: not yet)."""
        self._ended = meter.create_counter(
            "stackmcp.expiry.actions.ended",
            description="Scheduled actions (resumes) this replica ended, by outcome",
        )
        meter.create_observable_gauge(
            "stackmcp.expiry.actions.scheduled",
            callbacks=[self._observe_actions],
            description="Scheduled actions waiting to run (as last read)",
        )

    def schedule_read(self, count: int) -> None:
        """The purge loop read the schedule's size."""
        self.scheduled = count

    def purged(self, lag: float) -> None:
        """One server was purged ``lag`` seconds after it expired."""
        self._purged.add(1)
        self._lag.record(max(0.0, lag))

    def actions_read(self, count: int) -> None:
        """The action loop read the number of scheduled actions."""
        self.actions = count

    def action_ended(self, outcome: str) -> None:
        """This replica ended one scheduled action with ``outcome``."""
        self._ended.add(1, {"stackmcp.outcome": outcome})

    def _observe_actions(self, _options: CallbackOptions) -> Iterable[Observation]:
        if self.actions is None:
            return []
        return [Observation(self.actions)]

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        if self.scheduled is None:
            return []
        return [Observation(self.scheduled)]
