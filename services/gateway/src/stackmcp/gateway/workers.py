"""Running tool calls on workers so that a stalled or dead worker never stalls the service.

Workers announce themselves on :attr:`Subjects.worker_presence` about once a second
(:class:`WorkerPool` keeps the live ones), and each serves a subject of its own besides the
shared queue group. :class:`WorkerCaller` sends a call to the live worker with the fewest calls
outstanding from this gateway, asking it for a progress beacon every ``silence / 4`` seconds
while the call runs. Silence for ``silence`` seconds — the worker is stopped, killed, or cut off
with its NATS node — drops that worker from the pool and moves the call on:

* a **read** is sent again to another worker (a read running twice is harmless);
* a **write** is first *abandoned*: the gateway sets the call's claim key in Redis to
  ``abandoned`` unless a worker already claimed it. Workers claim a write the same way before
  sending anything upstream, so exactly one of the two wins. If the gateway won, the write never
  ran and never will, and it is sent again under a new call id; if a worker won, the write may
  have reached Better Stack, and the model is told so instead of running it twice.

Every call carries an absolute deadline: nothing is re-sent past it, a worker never starts
upstream work past it, and a write that reaches its deadline is abandoned the same way, so a
call the client was told did not happen cannot run later. With no worker announced yet (a
gateway just started), calls go to the queue group.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts import headers as h
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import ToolCallRequest, ToolCallResult, WorkerPresence
from stackmcp.gateway import metrics
from stackmcp.runtime.errors import DeadlineExceeded, Internal, Unavailable
from stackmcp.runtime.natsx import reply_error
from stackmcp.runtime.telemetry import inject_headers

__all__ = ["WorkerCaller", "WorkerPool"]

logger = logging.getLogger(__name__)

_PRESENCE = msgspec.json.Decoder(WorkerPresence)
_RESULT = msgspec.json.Decoder(ToolCallResult)
_ENCODER = msgspec.json.Encoder()
_GONE_AFTER = 3.0
"""Presence intervals of silence after which a worker is no longer routed to."""
ABANDONED = b"abandoned"

NOT_RUN = (
    "The tool call was not carried out: no Better Stack worker could start it in time. "
    "Nothing was changed; it is safe to try again."
)
READ_TIMED_OUT = "The tool call did not finish in time; try again in a few seconds."
WRITE_UNCERTAIN = (
    "The worker running this write stopped responding before it finished. The write may or may "
    "not have reached Better Stack: check the current state before repeating it."
)
WRITE_LATE = (
    "The write did not finish in time. It was already under way and may still complete: check "
    "the current state before repeating it."
)
NO_WORKER = "The Better Stack worker is not available right now; try again in a few seconds."


@dataclass
class _Worker:
    seen: float
    interval: float
    outstanding: int = 0


_EXCEEDED = {
    "read_timed_out": READ_TIMED_OUT,
    "write_not_run": NOT_RUN,
    "write_late": WRITE_LATE,
    "write_uncertain": WRITE_UNCERTAIN,
}


def _exceeded(result: str) -> DeadlineExceeded:
    """The error a call out of time ends with, counted by ``result``."""
    metrics.deadline_exceeded(result)
    return DeadlineExceeded(_EXCEEDED[result])


class WorkerPool:
    """The workers that announced themselves recently.

    Args:
        clock: monotonic seconds.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._workers: dict[str, _Worker] = {}

    def __len__(self) -> int:
        return len(self._workers)

    async def subscribe(self, nc: Client, subjects: Subjects) -> None:
        """Listen to worker presence announcements."""
        await nc.subscribe(subjects.worker_presence, cb=self._on_presence)

    async def _on_presence(self, msg: Msg) -> None:
        try:
            presence = _PRESENCE.decode(msg.data)
        except msgspec.DecodeError:
            logger.warning("ignored a malformed worker presence message")
            return
        self.seen(presence)

    def seen(self, presence: WorkerPresence) -> None:
        """Record an announcement (a leaving worker is dropped)."""
        if presence.leaving:
            self._workers.pop(presence.worker_id, None)
            return
        worker = self._workers.get(presence.worker_id)
        if worker is None:
            self._workers[presence.worker_id] = _Worker(self._clock(), presence.interval)
        else:
            worker.seen, worker.interval = self._clock(), presence.interval

    def pick(self, exclude: set[str]) -> str | None:
        """The live worker with the fewest calls outstanding from here (``None``: none known)."""
        now = self._clock()
        best: list[str] = []
        fewest = 0
        for worker_id, worker in list(self._workers.items()):
            if now - worker.seen > _GONE_AFTER * worker.interval:
                del self._workers[worker_id]
            elif worker_id not in exclude:
                if not best or worker.outstanding < fewest:
                    best, fewest = [worker_id], worker.outstanding
                elif worker.outstanding == fewest:
                    best.append(worker_id)
        return random.choice(best) if best else None  # noqa: S311 - load spreading, not secrets

    def started(self, worker_id: str | None) -> None:
        """A call was sent to ``worker_id``."""
        worker = self._workers.get(worker_id or "")
        if worker is not None:
            worker.outstanding += 1

    def finished(self, worker_id: str | None) -> None:
        """A call sent to ``worker_id`` is over."""
        worker = self._workers.get(worker_id or "")
        if worker is not None and worker.outstanding > 0:
            worker.outstanding -= 1

    def lost(self, worker_id: str | None, why: str) -> None:
        """Stop routing to ``worker_id`` until it announces itself again."""
        if worker_id is not None and self._workers.pop(worker_id, None) is not None:
            logger.warning("worker %s is %s; routing around it", worker_id[:16], why)


@dataclass
class _Pending:
    """One call's replies: the final message, and when the worker last gave a sign."""

    last_sign: float
    future: asyncio.Future[Msg] = field(default_factory=asyncio.Future)


class WorkerCaller:
    """Run tool calls on live workers (implements :class:`~stackmcp.gateway.mcp.ToolRunner`).

    Args:
        nc: NATS client.
        subjects: subject names.
        pool: the live workers.
        redis: where write claims live.
        keys: key names.
        silence: seconds without a sign from a worker before it counts as lost.
    """

    def __init__(
        self,
        nc: Client,
        subjects: Subjects,
        pool: WorkerPool,
        redis: Redis,
        keys: RedisKeys,
        *,
        silence: float = 1.0,
    ) -> None:
        self._nc = nc
        self._subjects = subjects
        self._pool = pool
        self._redis = redis
        self._keys = keys
        self._silence = silence
        self._beacon = silence / 4
        self._inbox = ""
        self._pending: dict[str, _Pending] = {}
        # Reply tokens only need to be unique under this connection's random inbox: a counter
        # spares a getrandom() call per call.
        self._tokens = itertools.count(1)

    async def start(self) -> None:
        """Subscribe to this gateway's reply inbox."""
        self._inbox = self._nc.new_inbox() + "."
        await self._nc.subscribe(self._inbox + "*", cb=self._on_reply)

    async def _on_reply(self, msg: Msg) -> None:
        pending = self._pending.get(msg.subject[len(self._inbox) :])
        if pending is None:
            return
        if msg.headers and msg.headers.get(h.PROGRESS):
            pending.last_sign = asyncio.get_running_loop().time()
        elif not pending.future.done():
            pending.future.set_result(msg)

    async def run(self, call: ToolCallRequest, *, write: bool) -> ToolCallResult:
        """Run ``call`` before its deadline (see the module docstring).

        Raises:
            NotFound: the worker does not know the tool.
            StackmcpError: the call could not be run; the message says so for the model.
        """
        call = msgspec.structs.replace(call, beacon=self._beacon)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, (call.deadline or time.time() + 30) - time.time())
        tried: set[str] = set()
        while True:
            worker_id = self._pool.pick(tried)
            outcome = await self._attempt(call, worker_id, deadline)
            if isinstance(outcome, ToolCallResult):
                return outcome
            if worker_id is not None:
                tried.add(worker_id)
            timed_out = loop.time() >= deadline
            if outcome in ("silent", "gone"):
                self._pool.lost(worker_id, outcome)
            if outcome == "gone" and worker_id is None:
                raise Unavailable(NO_WORKER)
            if write:
                if not await self._abandon(call.call_id):
                    raise _exceeded("write_late" if timed_out else "write_uncertain")
                if timed_out:
                    raise _exceeded("write_not_run")
                call = msgspec.structs.replace(call, call_id=secrets.token_hex(12))
            elif timed_out:
                raise _exceeded("read_timed_out")
            metrics.rerouted(outcome)

    async def _attempt(
        self, call: ToolCallRequest, worker_id: str | None, deadline: float
    ) -> ToolCallResult | str:
        """One send: the result, ``"silent"`` (no sign for ``silence`` seconds), ``"gone"``
        (nobody serves the subject) or ``"late"`` (the deadline passed)."""
        loop = asyncio.get_running_loop()
        token = f"{next(self._tokens):x}"
        started = loop.time()
        pending = _Pending(last_sign=started)
        self._pending[token] = pending
        subject = self._subjects.tool_call
        if worker_id is not None:
            subject = self._subjects.worker_tool_call(worker_id)
        self._pool.started(worker_id)
        outcome = "error"
        try:
            await self._nc.publish(
                subject,
                _ENCODER.encode(call),
                reply=self._inbox + token,
                headers=inject_headers() or None,
            )
            result = await self._wait(pending, deadline)
            outcome = result if isinstance(result, str) else "ok"
            return result
        finally:
            self._pool.finished(worker_id)
            del self._pending[token]
            metrics.worker_attempt(outcome, loop.time() - started)

    async def _wait(self, pending: _Pending, deadline: float) -> ToolCallResult | str:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            wait = min(pending.last_sign + self._silence, deadline) - now
            if wait > 0 and not pending.future.done():
                await asyncio.wait((pending.future,), timeout=wait)
            if pending.future.done():
                return self._decode(pending.future.result())
            now = loop.time()
            if now >= deadline:
                return "late"
            if now - pending.last_sign >= self._silence:
                return "silent"

    def _decode(self, msg: Msg) -> ToolCallResult | str:
        if msg.headers and msg.headers.get("Status") == "503":
            return "gone"
        error = reply_error(msg)
        if error is not None:
            raise error
        try:
            return _RESULT.decode(msg.data)
        except msgspec.ValidationError as exc:
            logger.warning("malformed tool result from a worker: %s", exc)
            raise Internal("the worker answered with something unreadable") from None

    async def _abandon(self, call_id: str) -> bool:
        """Mark an unclaimed write as never to run; ``False`` if a worker claimed it first."""
        try:
            won = await self._redis.set(self._keys.call_claim(call_id), ABANDONED, nx=True, ex=3600)
        except RedisError as exc:
            logger.warning("could not abandon a write: %s", type(exc).__name__)
            return False
        return bool(won)
