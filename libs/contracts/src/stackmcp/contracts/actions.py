"""Scheduled actions: a tool call to run later, once, by whichever expiry replica gets it.

The worker records one after a pause that names a resume time (``resume_at`` or
``for_minutes``); the expiry service runs it when due, as a tool call to the worker with a call
id derived from the action's id and its calls so far (:func:`action_call_id`), so the worker's
write claim lets each call run at most once. Layout in Redis (names in
:class:`~stackmcp.contracts.keys.RedisKeys`): the record (:meth:`RedisKeys.scheduled_action`),
its id in the due-time sorted set (:attr:`RedisKeys.scheduled_actions`), the action pending for
one target (:meth:`RedisKeys.scheduled_target`, so a later pause or resume of the same monitor
replaces it), a replica's lease while it runs it (:meth:`RedisKeys.scheduled_claim`) and, once
done, its outcome (:meth:`RedisKeys.scheduled_outcome`).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "ActionOutcome",
    "OutcomeKind",
    "ScheduledAction",
    "action_call_id",
    "action_target",
    "is_action_call",
]

OutcomeKind = Literal["done", "refused", "sent"]
"""``done``: the worker answered with a result; ``refused``: every attempt got an error (the
last one is kept); ``sent``: a worker claimed the call but its answer was lost (it ran at most
once, its result is unknown)."""


class ScheduledAction(msgspec.Struct, frozen=True, kw_only=True):
    """One tool call to run at :attr:`due_at` for one MCP server."""

    id: str
    server_id: str
    account_id: str
    tool: str
    arguments: dict[str, Any]
    due_at: float
    """Unix seconds."""
    target: str
    """What the action is about (``<tool>:<id>``): one pending action per target and account."""
    scheduled_at: float
    scheduled_by: str
    """The call id of the tool call that scheduled it (or ``""``)."""
    attempts: int = 0
    """Attempts the worker answered with an error (Better Stack refused): bounded."""
    calls: int = 0
    """Call ids used up so far (refused attempts, and sends no worker answered and that are
    abandoned, which are retried without bound): the next call's id is derived from it."""
    last_error: str | None = None


class ActionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What became of a scheduled action (kept for a while after it left the schedule)."""

    id: str
    outcome: OutcomeKind
    at: float
    attempts: int
    text: str = ""


_CALL_PREFIX = "scheduled-"


def action_call_id(action_id: str, calls: int) -> str:
    """The tool-call id of an action's next call (``calls`` used up before it): the same on
    every replica, so a replica repeating a call a stalled or dead one already sent is dropped
    by the worker's write claim."""
    return f"{_CALL_PREFIX}{action_id}-{calls}"


def is_action_call(call_id: str) -> bool:
    """Whether ``call_id`` is a scheduled action's own call (which leaves the schedule to the
    replica running it, rather than cancelling its own action)."""
    return call_id.startswith(_CALL_PREFIX)


def action_target(tool: str, resource_id: str) -> str:
    """The target of an action on ``resource_id`` through the update tool ``tool``."""
    return f"{tool}:{resource_id}"
