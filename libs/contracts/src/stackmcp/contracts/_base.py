"""Base classes for every message on the wire.

Messages are frozen, keyword-only msgspec Structs tagged with a versioned type string
(``stackmcp.<domain>.v<major>.<name>``) in the ``type`` field. Fields are only ever added, with
defaults; a breaking change is a new ``v2`` class. Unknown fields are ignored on decode so a newer
producer never breaks an older consumer during a rolling deploy.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec

__all__ = ["Event", "Message", "new_event_id", "utcnow"]


class Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    """Base for every wire message; subclasses set ``tag="stackmcp.<domain>.v<N>.<name>"``."""


class Event(Message, frozen=True, kw_only=True):
    """Base for lifecycle events: a unique id (also the JetStream ``Nats-Msg-Id``) and a time."""

    id: str
    """Unique event id, used for de-duplication."""
    occurred_at: datetime
    """When the fact happened (UTC)."""


def new_event_id() -> str:
    """Return a fresh random event id."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)
