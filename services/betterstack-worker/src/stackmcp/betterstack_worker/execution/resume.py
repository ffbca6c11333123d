"""Pauses that end by themselves: ``resume_at`` / ``for_minutes`` on the pause tools.

The monitor and heartbeat update tools pause with ``paused: true``; given a resume time as
well, the worker checks it before anything is sent upstream (:func:`resume_due`), and once the
pause succeeded records the resume as a scheduled action (:class:`ResumeScheduler`): the same
update tool with ``paused: false``, which the expiry service runs when due, exactly once across
its replicas (see :mod:`stackmcp.contracts.actions`). One action is pending per monitor or
heartbeat: any later successful change of its ``paused`` (a manual resume, a new pause) replaces
or cancels it, so an early manual resume is never undone by an older schedule's resume.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.actions import ScheduledAction, action_target, is_action_call
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.tools import ToolCallRequest
from stackmcp.runtime.errors import InvalidArgument, Unavailable

__all__ = [
    "MAX_AHEAD",
    "REPLACE_SCRIPT",
    "RESUMABLE",
    "RESUME_ARGUMENTS",
    "ResumeScheduler",
    "iso",
    "resume_due",
]

logger = logging.getLogger(__name__)

RESUMABLE: Mapping[str, str] = {
    "update_a_better_stack_monitor_by_id": "monitor_id",
    "update_a_better_stack_heartbeat_by_id": "heartbeat_id",
}
"""The pause tools (by name) and the argument naming what they pause."""
RESUME_ARGUMENTS = ("resume_at", "for_minutes")
MAX_AHEAD = 30 * 24 * 3600.0
"""Latest resume, in seconds from now (30 days, the same as ``for_minutes``' maximum)."""

REPLACE_SCRIPT = """
-- KEYS[1] target, KEYS[2] due set; ARGV[1] action key prefix, ARGV[2] new id ('' cancels),
-- ARGV[3] new record, ARGV[4] due time
local old = redis.call('GET', KEYS[1])
if old then
  redis.call('ZREM', KEYS[2], old)
  redis.call('DEL', ARGV[1] .. old)
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  return old
end
redis.call('SET', ARGV[1] .. ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('SET', KEYS[1], ARGV[2])
return old
"""
"""Replace (or cancel) the action pending for one target, in one atomic step: the old one's
record and schedule entry go, the new one's record, due time and target pointer come."""


def resume_due(tool: str, arguments: Mapping[str, Any], now: float) -> float | None:
    """When the pause in ``arguments`` should end (Unix seconds), or ``None`` for no resume.

    Raises:
        InvalidArgument: both or an out-of-range resume time, or one without ``paused: true``.
    """
    resume_at = arguments.get("resume_at")
    minutes = arguments.get("for_minutes")
    if resume_at is None and minutes is None:
        return None
    if tool not in RESUMABLE:
        raise InvalidArgument("resume_at and for_minutes only apply to pausing")
    if resume_at is not None and minutes is not None:
        raise InvalidArgument(
            "give resume_at or for_minutes, not both",
            fields={"for_minutes": ["give this or resume_at, not both"]},
        )
    if arguments.get("paused") is not True:
        name = "resume_at" if resume_at is not None else "for_minutes"
        raise InvalidArgument(
            f"{name} needs paused: true", fields={name: ["only with paused: true"]}
        )
    if minutes is not None:
        return now + 60.0 * int(minutes)
    try:
        when = dt.datetime.fromisoformat(str(resume_at).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(
            "resume_at must be an RFC 3339 date-time", fields={"resume_at": ["not a date-time"]}
        ) from None
    if when.tzinfo is None:
        raise InvalidArgument(
            "resume_at needs an offset", fields={"resume_at": ['add an offset, e.g. "Z"']}
        )
    due = when.timestamp()
    if due <= now:
        raise InvalidArgument("resume_at is in the past", fields={"resume_at": ["in the past"]})
    if due - now > MAX_AHEAD:
        raise InvalidArgument(
            "resume_at is more than 30 days ahead", fields={"resume_at": ["at most 30 days ahead"]}
        )
    return due


def iso(seconds: float) -> str:
    """Unix seconds as an RFC 3339 UTC date-time with seconds, e.g. ``2026-12-02T14:00:00Z``."""
    moment = dt.datetime.fromtimestamp(round(seconds), dt.UTC)
    return moment.isoformat().replace("+00:00", "Z")


class ResumeScheduler:
    """Record, replace or cancel the scheduled resume of monitors and heartbeats.

    Args:
        redis: shared Redis.
        keys: key names.
    """

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._replace = redis.register_script(REPLACE_SCRIPT)

    async def after_pause_change(
        self, request: ToolCallRequest, arguments: Mapping[str, Any], due: float | None
    ) -> ScheduledAction | None:
        """After a successful change of ``paused`` through ``request.tool``: schedule the
        resume at ``due`` (replacing any pending one), or cancel the pending one (``None``).

        A scheduled action's own call changes nothing here: the replica running it ends it.

        Raises:
            Unavailable: Redis could not record it (the change upstream did happen).
        """
        if is_action_call(request.call_id):
            return None
        name = RESUMABLE[request.tool]
        target = action_target(request.tool, str(arguments[name]))
        action: ScheduledAction | None = None
        args: list[str | bytes | float] = [self._keys.scheduled_action(""), "", "", 0]
        if due is not None:
            action = ScheduledAction(
                id=_action_id(request.call_id),
                server_id=request.server_id,
                account_id=request.account_id,
                tool=request.tool,
                arguments={name: arguments[name], "paused": False},
                due_at=due,
                target=target,
                scheduled_at=time.time(),
                scheduled_by=request.call_id,
            )
            args = [args[0], action.id, msgspec.json.encode(action), due]
        keys = [
            self._keys.scheduled_target(request.account_id, target),
            self._keys.scheduled_actions,
        ]
        try:
            await self._replace(keys=keys, args=args)
        except RedisError as exc:
            logger.warning("could not record a scheduled resume: %s", type(exc).__name__)
            raise Unavailable(
                f"the {name.removesuffix('_id')} was changed, but its automatic resume could "
                "not be recorded; resume it later with paused: false"
            ) from None
        if action is not None:
            logger.info("scheduled %s (%s) at %s", action.id, target, iso(due or 0))
        return action


def _action_id(call_id: str) -> str:
    """Derived from the call id when there is one (a re-sent pause schedules the same action),
    random otherwise."""
    if not call_id:
        return f"act-{secrets.token_hex(8)}"
    return f"act-{hashlib.sha256(call_id.encode()).hexdigest()[:16]}"
