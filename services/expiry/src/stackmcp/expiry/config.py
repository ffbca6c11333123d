"""Settings of the expiry service (section ``EXPIRY``: ``STACKMCP_EXPIRY_<FIELD>``), including
those of its scheduled actions (``action_*``: the resume of a pause with a resume time)."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["ExpiryConfig"]

_Positive = Annotated[float, msgspec.Meta(gt=0)]


class ExpiryConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How expiry keeps its schedule and purges (section ``EXPIRY``)."""

    max_sleep: _Positive = 1.0
    """Longest pause, in seconds, between two looks at the schedule. A replica sleeps until the
    earliest expiry or this long, whichever comes first; other replicas' schedule changes are
    noticed within this bound."""
    batch: Annotated[int, msgspec.Meta(ge=1)] = 100
    """Most server ids purged per sweep, and most events fetched from JetStream at once."""
    outbox_grace: Annotated[float, msgspec.Meta(ge=1)] = 30.0
    """Seconds a purged server's ``expired`` event may stay unpublished in the outbox before any
    replica re-publishes it (a replica that crashed or lost NATS between purge and publish).
    Must exceed the publish timeout (5 s) so a slow publish is not doubled."""
    ack_wait: _Positive = 30.0
    """Seconds JetStream waits for a replica to acknowledge an event before redelivering it."""
    max_deliver: Annotated[int, msgspec.Meta(ge=1)] = 50
    """Deliveries of one event before JetStream gives up on it (the periodic reconcile still
    repairs the schedule afterwards)."""
    fetch_timeout: _Positive = 5.0
    """Seconds one pull from the events consumer waits for new events."""
    reconcile_interval: Annotated[float, msgspec.Meta(ge=0)] = 600.0
    """Seconds between full re-reads of every server's ``expires_at`` into the schedule, the
    repair for events lost beyond ``max_deliver`` or stream retention; 0 = only at start."""
    action_poll: _Positive = 1.0
    """Longest pause, in seconds, between two looks at the scheduled actions (a paused monitor
    resumes at most this late; actions scheduled by workers are noticed within this bound)."""
    action_timeout: _Positive = 30.0
    """Seconds a replica waits for the worker to answer a scheduled action's tool call."""
    action_lease: _Positive = 90.0
    """Seconds a replica holds a scheduled action it runs; after that another replica may take
    it over (the one that held it crashed or stalled). Must exceed ``action_timeout``."""
    action_attempts: Annotated[int, msgspec.Meta(ge=1)] = 5
    """Attempts of a scheduled action the worker answers with an error (Better Stack refused
    it) before it is given up and recorded as ``refused``; calls no worker answered (all down)
    do not count and are retried without limit."""
    action_backoff: _Positive = 30.0
    """Seconds before the second call of a failed scheduled action; doubled for each further
    call, up to 16 times this."""

    def __post_init__(self) -> None:
        if self.action_lease <= self.action_timeout:
            raise ValueError("action_lease must exceed action_timeout")
