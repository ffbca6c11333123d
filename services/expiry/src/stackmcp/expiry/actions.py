"""The action loop: run scheduled actions (a paused monitor's resume) when due, exactly once.

Workers record actions (:mod:`stackmcp.contracts.actions`); every expiry replica runs this loop
on the shared due-time set. For each due action a replica takes a lease (``SET NX PX``, value a
random token): only the lease holder runs it, and every change it makes afterwards (finish,
reschedule) is applied only while it still holds that lease, so a replica that stalled past its
lease changes nothing. The action runs as a tool call to the worker over NATS, the way the
gateway sends one, with a call id derived from the action's id and its calls so far
(:func:`~stackmcp.contracts.actions.action_call_id`): a worker claims a write by its call id
before sending it upstream, so a replica that takes over a call another one already sent
(then crashed or stalled) gets no answer rather than a second resume. Without an answer the
replica marks the call ``abandoned`` the gateway's way (``SET NX`` on the claim key): if that
wins, no worker ran it nor ever will and the next call gets a new call id (unanswered sends are
retried without bound: a workers' outage must not leave a monitor paused for ever); if a worker
holds the claim, the call was sent once and the action ends as ``sent``. An action the worker
answers with an error is retried with backoff, then given up (``refused``). Each outcome is
kept for a week under :meth:`RedisKeys.scheduled_outcome` and, for calls that reached a worker,
audited as a tool call of the server that scheduled it (client ``stackmcp-expiry``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts._base import utcnow
from stackmcp.contracts.actions import (
    ActionOutcome,
    OutcomeKind,
    ScheduledAction,
    action_call_id,
)
from stackmcp.contracts.audit import ToolCallCompleted
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.tools import ToolCallRequest, ToolCallResult
from stackmcp.expiry.metrics import ExpiryMetrics
from stackmcp.runtime.errors import DeadlineExceeded, StackmcpError, Unavailable

__all__ = [
    "ABANDONED",
    "CLIENT_NAME",
    "FINISH_SCRIPT",
    "OUTCOME_TTL",
    "RETRY_SCRIPT",
    "ActionRunner",
    "ActionStore",
    "Audit",
    "Send",
]

logger = logging.getLogger(__name__)

ABANDONED = b"abandoned"
"""The claim-key value that tells workers never to run a call (the gateway's convention)."""
CLIENT_NAME = "stackmcp-expiry"
"""The client named on the audit record of a scheduled action's call."""
OUTCOME_TTL = 7 * 86400
"""Seconds an action's outcome is kept after it finished."""
_CALL_CLAIM_TTL = 3600

Send = Callable[[ToolCallRequest, float], Awaitable[ToolCallResult]]
"""Send a tool call to the worker and wait ``timeout`` seconds for its answer.

Raises :class:`DeadlineExceeded` or :class:`Unavailable` without an answer, another
:class:`StackmcpError` when the worker refused the call (e.g. the tool is unknown)."""
Audit = Callable[[ToolCallCompleted], Awaitable[None]]

FINISH_SCRIPT = """
-- KEYS[1] lease, KEYS[2] record, KEYS[3] due set, KEYS[4] target, KEYS[5] outcome
-- ARGV[1] lease token, ARGV[2] action id, ARGV[3] outcome, ARGV[4] outcome ttl
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
if redis.call('GET', KEYS[4]) == ARGV[2] then redis.call('DEL', KEYS[4]) end
redis.call('SET', KEYS[5], ARGV[3], 'EX', ARGV[4])
redis.call('DEL', KEYS[1])
return 1
"""
"""End an action for the lease holder alone: it leaves the schedule, its outcome is kept."""

RETRY_SCRIPT = """
-- KEYS[1] lease, KEYS[2] record, KEYS[3] due set, KEYS[4] target
-- ARGV[1] lease token, ARGV[2] action id, ARGV[3] updated record, ARGV[4] next due time
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[4]) ~= ARGV[2] or redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
  return 2
end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
return 1
"""
"""Reschedule an action for the lease holder alone, unless it was cancelled or replaced
meanwhile (a manual resume or a new pause): then it is dropped (2)."""


class ActionStore:
    """The scheduled actions in Redis.

    Args:
        redis: shared Redis.
        keys: key names.
    """

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._finish = redis.register_script(FINISH_SCRIPT)
        self._retry = redis.register_script(RETRY_SCRIPT)

    async def due(self, now: float, limit: int) -> list[str]:
        """Ids of at most ``limit`` actions due at ``now``, earliest first."""
        ids = await self._redis.zrangebyscore(
            self._keys.scheduled_actions, "-inf", now, start=0, num=limit
        )
        return [_text(raw) for raw in ids]

    async def head(self) -> tuple[float | None, int]:
        """``(earliest due time or None, actions scheduled)``."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrange(self._keys.scheduled_actions, 0, 0, withscores=True)
            pipe.zcard(self._keys.scheduled_actions)
            first, count = await pipe.execute()
        return (float(first[0][1]) if first else None), int(count)

    async def lease(self, action_id: str, token: str, seconds: float) -> bool:
        """Take the lease of ``action_id`` for ``seconds`` unless another replica holds it."""
        won = await self._redis.set(
            self._keys.scheduled_claim(action_id), token, nx=True, px=max(1, int(seconds * 1000))
        )
        return bool(won)

    async def load(self, action_id: str, token: str) -> ScheduledAction | None:
        """The action, or ``None`` when it is gone or unreadable (its entry is dropped)."""
        raw = await self._redis.get(self._keys.scheduled_action(action_id))
        if raw is not None:
            try:
                return msgspec.json.decode(raw, type=ScheduledAction)
            except (msgspec.DecodeError, msgspec.ValidationError):
                logger.error("dropping unreadable scheduled action %s", action_id)
                await self._redis.delete(self._keys.scheduled_action(action_id))
        await self._redis.zrem(self._keys.scheduled_actions, action_id)
        await self.release(action_id, token)
        return None

    async def release(self, action_id: str, token: str) -> None:
        """Give the lease back (only if it is still this token's)."""
        claim = self._keys.scheduled_claim(action_id)
        if _text(await self._redis.get(claim) or b"") == token:
            await self._redis.delete(claim)

    async def finish(self, action: ScheduledAction, token: str, outcome: ActionOutcome) -> bool:
        """End ``action`` with ``outcome``; ``False`` when the lease was lost (nothing done)."""
        keys = [
            self._keys.scheduled_claim(action.id),
            self._keys.scheduled_action(action.id),
            self._keys.scheduled_actions,
            self._keys.scheduled_target(action.account_id, action.target),
            self._keys.scheduled_outcome(action.id),
        ]
        args: list[str | bytes | int] = [
            token,
            action.id,
            msgspec.json.encode(outcome),
            OUTCOME_TTL,
        ]
        return bool(await self._finish(keys=keys, args=args) == 1)

    async def retry(self, action: ScheduledAction, token: str, due: float) -> int:
        """Reschedule ``action`` (as given: attempts and error updated) at ``due``.

        Returns:
            1 rescheduled, 2 dropped (cancelled or replaced meanwhile), 0 lease lost.
        """
        keys = [
            self._keys.scheduled_claim(action.id),
            self._keys.scheduled_action(action.id),
            self._keys.scheduled_actions,
            self._keys.scheduled_target(action.account_id, action.target),
        ]
        args: list[str | bytes | float] = [token, action.id, msgspec.json.encode(action), due]
        return int(await self._retry(keys=keys, args=args))

    async def abandon(self, call_id: str) -> bool:
        """Whether the call ``call_id`` never ran and never will (``True``: it is, or now is,
        abandoned), or a worker claimed it (``False``: it was sent upstream at most once)."""
        key = self._keys.call_claim(call_id)
        if await self._redis.set(key, ABANDONED, nx=True, ex=_CALL_CLAIM_TTL):
            return True
        return _text(await self._redis.get(key) or b"") == ABANDONED.decode()


class ActionRunner:
    """Run due scheduled actions with ``send`` until stopped.

    Args:
        store: the actions in Redis.
        send: sends a tool call to the worker (see :data:`Send`).
        audit: publishes the audit record of a call that reached a worker (none by default).
        batch: most actions looked at per sweep.
        poll: longest pause between sweeps, in seconds.
        timeout: seconds to wait for the worker's answer.
        lease: seconds a replica holds an action it runs (more than ``timeout``).
        attempts: refused attempts before an action is given up.
        backoff: seconds before the second call, doubled for each further one (at most 16x).
        clock: Unix seconds now.
        metrics: where the schedule's size and ended actions are reported (none by default).
    """

    def __init__(
        self,
        store: ActionStore,
        send: Send,
        *,
        audit: Audit | None = None,
        batch: int = 100,
        poll: float = 1.0,
        timeout: float = 30.0,
        lease: float = 90.0,
        attempts: int = 5,
        backoff: float = 30.0,
        clock: Callable[[], float] = time.time,
        metrics: ExpiryMetrics | None = None,
    ) -> None:
        self._store = store
        self._send = send
        self._audit = audit
        self._batch = batch
        self._poll = poll
        self._timeout = timeout
        self._lease = lease
        self._attempts = attempts
        self._backoff = backoff
        self._clock = clock
        self._metrics = metrics
        self.scheduled: int | None = None
        """Actions in the schedule when this loop last looked (``None``: not yet)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep until ``stop`` is set; actions under way are finished first."""
        while not stop.is_set():
            delay = self._poll
            try:
                await self.sweep()
                first, self.scheduled = await self._store.head()
                if self._metrics is not None:
                    self._metrics.actions_read(self.scheduled)
                if first is not None:
                    delay = min(self._poll, max(0.0, first - self._clock()))
            except (RedisError, OSError) as exc:
                logger.warning("scheduled actions sweep failed: %s", type(exc).__name__)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def sweep(self) -> int:
        """Run the actions due now (concurrently); how many this replica ran."""
        due = await self._store.due(self._clock(), self._batch)
        if not due:
            return 0
        ran = await asyncio.gather(*(self.run_one(action_id) for action_id in due))
        return sum(ran)

    async def run_one(self, action_id: str) -> bool:
        """Run ``action_id`` if this replica gets its lease; whether it did."""
        token = f"{os.getpid()}-{secrets.token_hex(6)}"  # the pid says which process holds it
        if not await self._store.lease(action_id, token, self._lease):
            return False
        action = await self._store.load(action_id, token)
        if action is None:
            return False
        if action.due_at > self._clock():  # replaced by a later one since it was listed
            await self._store.release(action_id, token)
            return False
        call_id = action_call_id(action.id, action.calls)
        request = ToolCallRequest(
            server_id=action.server_id,
            account_id=action.account_id,
            tool=action.tool,
            arguments=action.arguments,
            methods=("write",),
            call_id=call_id,
            timeout=self._timeout,
            deadline=time.time() + self._timeout,
        )
        started = time.monotonic()
        try:
            result = await self._send(request, self._timeout)
        except (DeadlineExceeded, Unavailable) as exc:
            if await self._store.abandon(call_id):
                await self._again(action, token, f"no worker answered ({exc.message})", False)
            else:
                logger.info("scheduled action %s was sent by an earlier attempt", action.id)
                await self._end(action, token, "sent", "sent once; the answer was lost")
            return True
        except StackmcpError as exc:
            result = ToolCallResult(text=exc.message, is_error=True, error=exc.to_body())
        await self._audited(action, request, result, time.monotonic() - started)
        if not result.is_error:
            logger.info("ran scheduled action %s (%s)", action.id, action.target)
            await self._end(action, token, "done", result.content_text()[:500])
        else:
            await self._again(action, token, result.content_text()[:500], True)
        return True

    async def _again(self, action: ScheduledAction, token: str, error: str, refused: bool) -> None:
        """Try again later with the next call id: after a refusal (counted; the last one ends
        the action as ``refused``) or an unanswered send (workers down: not counted, the
        backoff stops doubling at 16 times ``backoff``)."""
        attempts = action.attempts + int(refused)
        updated = msgspec.structs.replace(
            action, attempts=attempts, calls=action.calls + 1, last_error=error
        )
        if attempts >= self._attempts:
            logger.warning("scheduled action %s given up after %d: %s", action.id, attempts, error)
            await self._end(updated, token, "refused", error)
            return
        due = self._clock() + self._backoff * 2 ** min(updated.calls - 1, 4)
        logger.info(
            "scheduled action %s failed (%s); call %d later", action.id, error, updated.calls
        )
        await self._store.retry(updated, token, due)

    async def _end(self, action: ScheduledAction, token: str, kind: OutcomeKind, text: str) -> None:
        outcome = ActionOutcome(
            id=action.id, outcome=kind, at=self._clock(), attempts=action.attempts, text=text
        )
        if not await self._store.finish(action, token, outcome):
            logger.info("scheduled action %s was taken over by another replica", action.id)
        elif self._metrics is not None:
            self._metrics.action_ended(kind)

    async def _audited(
        self,
        action: ScheduledAction,
        request: ToolCallRequest,
        result: ToolCallResult,
        seconds: float,
    ) -> None:
        if self._audit is None:
            return
        record = ToolCallCompleted(
            id=f"audit-{request.call_id}",
            time=utcnow(),
            duration_ms=round(seconds * 1000, 3),
            account_id=action.account_id,
            server_id=action.server_id,
            client_name=CLIENT_NAME,
            tool=action.tool,
            arguments=action.arguments,
            outcome="tool_error" if result.is_error else "ok",
            error_code=result.error.code if result.error is not None else None,
            upstream_status=result.upstream_status,
        )
        try:
            await self._audit(record)
        except (Unavailable, OSError) as exc:
            logger.warning("audit of scheduled action %s not published: %s", action.id, exc)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
