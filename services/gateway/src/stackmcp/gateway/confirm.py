"""Confirmation before a write runs (``config.confirm``): single-use tokens and elicitation.

Two ways to ask a person, one rule: nothing is sent upstream before the answer.

* **Confirm tokens** work with every client. The first call returns a plan and a single-use
  ``confirm_token`` bound to the server, the tool and the canonical arguments; a second call with
  the token and the same arguments runs once. Tokens live in Redis (any replica can redeem them)
  under their hash. Redeeming swaps the record for ``used`` in one command (``SET … XX GET``), so
  two concurrent redemptions cannot both win; the record outlives its validity by
  :data:`REMEMBERED` so "expired" and "already used" can be told apart from "never issued".
  The 2026-07-28 ``input_required`` round trip carries the same token as its ``requestState``.
* **Elicitation** (session eras, clients that declared it): the gateway sends
  ``elicitation/create`` on the call's own response stream (:class:`Outbox`) and waits for the
  client's answer, which the client POSTs as a JSON-RPC response to whichever replica its load
  balancer picks; that replica forwards it over NATS (:meth:`Elicitations.deliver`) to the one
  waiting (:meth:`Elicitations.ask`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts.audit import Decision
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.policy import canonical_arguments
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tokens import hash_token
from stackmcp.runtime.errors import Unavailable

__all__ = [
    "CONFIRM_TOKEN_ARG",
    "REMEMBERED",
    "ConfirmTokens",
    "ElicitAnswer",
    "Elicitations",
    "Outbox",
    "token_refusal",
]

logger = logging.getLogger(__name__)

CONFIRM_TOKEN_ARG = "confirm_token"  # noqa: S105 - an argument name, not a secret
"""The optional argument that carries a confirm token on a tool needing confirmation."""
REMEMBERED = 600
"""Seconds a token's record is kept past its issue, to tell expired from unknown."""
_PREFIX = "cfm_"
_TOKEN_RE = re.compile(r"^cfm_[A-Za-z0-9_-]{20,64}$")
_USED = b"used"
_ANSWER_ID = "stackmcp-elicit-"


class _Issued(msgspec.Struct, frozen=True, array_like=True):
    server_id: str
    tool: str
    digest: str
    expires: float


_ISSUED = msgspec.json.Decoder(_Issued)


def _digest(arguments: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_arguments(arguments)).hexdigest()


class ConfirmTokens:
    """Issue and redeem single-use confirm tokens.

    Args:
        redis: shared Redis.
        keys: key names.
        ttl: seconds a token stays valid.
        clock: wall-clock seconds.
    """

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        *,
        ttl: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.ttl = ttl
        self._clock = clock

    async def issue(self, server_id: str, tool: str, arguments: Mapping[str, Any]) -> str:
        """A new token for this exact call.

        Raises:
            Unavailable: Redis is unreachable.
        """
        token = _PREFIX + secrets.token_urlsafe(24)
        record = _Issued(server_id, tool, _digest(arguments), self._clock() + self.ttl)
        try:
            await self._redis.set(
                self._keys.confirm_token(hash_token(token)),
                msgspec.json.encode(record),
                ex=int(self.ttl) + REMEMBERED,
            )
        except RedisError as exc:
            raise Unavailable("the confirmation store is unreachable") from exc
        return token

    async def redeem(
        self, token: object, server_id: str, tool: str, arguments: Mapping[str, Any]
    ) -> Decision:
        """``confirmed`` (the call may run, once) or why the token is refused.

        The token is spent whatever the answer, so a refused token cannot be tried again.

        Raises:
            Unavailable: Redis is unreachable.
        """
        if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
            return "token_unknown"
        key = self._keys.confirm_token(hash_token(token))
        try:
            before = await self._redis.set(key, _USED, xx=True, keepttl=True, get=True)
        except RedisError as exc:
            raise Unavailable("the confirmation store is unreachable") from exc
        return self._verdict(before, server_id, tool, arguments)

    def _verdict(
        self, before: object, server_id: str, tool: str, arguments: Mapping[str, Any]
    ) -> Decision:
        if not isinstance(before, bytes):
            return "token_unknown"
        if before == _USED:
            return "token_reused"
        try:
            issued = _ISSUED.decode(before)
        except msgspec.DecodeError:
            return "token_unknown"
        if self._clock() >= issued.expires:
            return "token_expired"
        bound = (issued.server_id, issued.tool, issued.digest)
        if bound != (server_id, tool, _digest(arguments)):
            return "token_mismatch"
        return "confirmed"


def token_refusal(decision: Decision, tool: str) -> str:
    """What the model is told when a confirm token is refused."""
    again = f"Call {tool} again without confirm_token to get a new plan, and ask the user again."
    reasons = {
        "token_reused": "This confirm_token was already used: each one runs a call once.",
        "token_expired": "This confirm_token expired before it was used.",
        "token_mismatch": (
            "This confirm_token was issued for a different call: the tool or the arguments "
            "differ from the plan that was confirmed. Nothing was run."
        ),
        "token_unknown": "This confirm_token is not one this server issued (or it is too old).",
    }
    return f"{reasons.get(decision, 'This confirm_token cannot be used.')} {again}"


@dataclass
class Outbox:
    """JSON-RPC messages a call sends on its own response stream before its reply (the HTTP
    adapter switches the response to SSE when the first one arrives)."""

    session_id: str
    messages: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    used: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, message: bytes) -> None:
        """Queue ``message`` for the response stream."""
        self.messages.put_nowait(message)
        self.used.set()


Action = Literal["accept", "decline", "cancel", "timeout"]


class ElicitAnswer(msgspec.Struct, frozen=True):
    """The client's answer to an elicitation (``timeout``: none in time)."""

    action: Action
    content: dict[str, Any] | None = None


class _Forwarded(msgspec.Struct, frozen=True):
    session_id: str
    result: Any = None
    error: Any = None


_FORWARDED = msgspec.json.Decoder(_Forwarded)


class Elicitations:
    """Ask the client (on a call's response stream) and receive its answer on any replica.

    Args:
        nc: NATS client.
        subjects: subject names.
    """

    def __init__(self, nc: Client, subjects: Subjects) -> None:
        self._nc = nc
        self._subjects = subjects

    async def ask(self, outbox: Outbox, params: dict[str, Any], timeout: float) -> ElicitAnswer:
        """Send ``elicitation/create`` with ``params`` and wait up to ``timeout`` seconds for
        the answer from the same session."""
        request_id = _ANSWER_ID + secrets.token_hex(16)
        answered: asyncio.Future[ElicitAnswer] = asyncio.get_running_loop().create_future()

        async def on_answer(msg: Msg) -> None:
            answer = _answer_of(msg.data, outbox.session_id)
            if answer is not None and not answered.done():
                answered.set_result(answer)

        subscription = await self._nc.subscribe(
            self._subjects.gateway_answer(request_id), cb=on_answer
        )
        try:
            await self._nc.flush()
            request = {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "elicitation/create",
                "params": params,
            }
            outbox.send(msgspec.json.encode(request))
            try:
                return await asyncio.wait_for(answered, timeout)
            except TimeoutError:
                return ElicitAnswer("timeout")
        finally:
            await subscription.unsubscribe()

    async def deliver(self, session_id: str, request_id: object, result: Any, error: Any) -> bool:
        """Forward a client's JSON-RPC response to the replica waiting for it; ``False`` when
        it answers nothing this gateway asked."""
        if not isinstance(request_id, str) or not request_id.startswith(_ANSWER_ID):
            return False
        try:
            subject = self._subjects.gateway_answer(request_id)
        except ValueError:
            return False
        payload = msgspec.json.encode(_Forwarded(session_id, result, error))
        await self._nc.publish(subject, payload)
        return True


def _answer_of(data: bytes, session_id: str) -> ElicitAnswer | None:
    try:
        forwarded = _FORWARDED.decode(data)
    except msgspec.DecodeError:
        return None
    if forwarded.session_id != session_id:
        logger.warning("ignored an elicitation answer from another session")
        return None
    result = forwarded.result
    if forwarded.error is not None or not isinstance(result, dict):
        return ElicitAnswer("cancel")
    action = result.get("action")
    content = result.get("content")
    if action not in ("accept", "decline", "cancel"):
        return ElicitAnswer("cancel")
    return ElicitAnswer(action, content if isinstance(content, dict) else None)
