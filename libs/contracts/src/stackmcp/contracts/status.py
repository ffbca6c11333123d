"""The status ping: every running service says who it is and whether it is ready.

A caller publishes a :class:`StatusPing` on :attr:`Subjects.status` with a reply subject (no
queue group: every replica of every service gets it) and gathers the :class:`ServiceStatus`
answers that arrive within a short wait. What answered is what runs; a replica that is stopped,
hung or cut off from NATS is simply absent.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from stackmcp.contracts._base import Message

__all__ = ["SERVICE_NAMES", "ServiceStatus", "StatusPing"]

SERVICE_NAMES: tuple[str, ...] = ("gateway", "betterstack-worker", "expiry", "provisioning")
"""The services an installation runs, each expected to answer at least once."""


class StatusPing(Message, frozen=True, kw_only=True, tag="stackmcp.status.v1.ping"):
    """Asks every service listening on :attr:`Subjects.status` for its :class:`ServiceStatus`."""


class ServiceStatus(Message, frozen=True, kw_only=True, tag="stackmcp.status.v1.service"):
    """One replica of one service, as it sees itself."""

    service: str
    """The service: one of :data:`SERVICE_NAMES`."""
    version: str
    """The version of the service's package."""
    instance_id: str
    """Random per process (a worker's id is the one it announces in its presence)."""
    host: str = ""
    """The machine's host name (the pod's name in Kubernetes)."""
    started_at: datetime
    """When the process started answering (UTC)."""
    ready: bool
    """Whether it would pass its readiness probe now."""
    checks: dict[str, bool] = msgspec.field(default_factory=dict)
    """What readiness is made of (``nats``, ``redis``, ``catalog``…), each passing or not."""
    details: dict[str, str | int | float | bool] = msgspec.field(default_factory=dict)
    """A few figures the service adds (e.g. ``scheduled`` for expiry, ``in_flight``)."""
