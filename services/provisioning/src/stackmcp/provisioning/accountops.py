"""Managing a connected account: rename it, rotate its Better Stack token, re-verify it.

Works on the same collaborators as :class:`~stackmcp.provisioning.provisioner.Provisioner`
(store, audit trail, secret box, verifier), so a change is stored, sealed and audited the way
``create_account`` does it. The outcome of the last check of each account (its *health*) is
kept in Redis under :attr:`~stackmcp.contracts.keys.RedisKeys.account_health`, so every
replica shows the same badge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

import msgspec
from msgspec.structs import replace
from redis.asyncio import Redis
from redis.exceptions import RedisError

from stackmcp.contracts._base import new_event_id, utcnow
from stackmcp.contracts.accounts import AccountRecord, credential_context
from stackmcp.contracts.events import AccountUpdated
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.provisioning.bodies import FieldErrors, check_betterstack_token, check_name
from stackmcp.provisioning.events import AuditTrail, EventPublisher
from stackmcp.provisioning.ids import ACCOUNT_ID_RE
from stackmcp.provisioning.provisioner import Verifier
from stackmcp.provisioning.store import Store
from stackmcp.runtime.crypto import SecretBox
from stackmcp.runtime.errors import (
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StackmcpError,
    Unauthenticated,
    Unavailable,
    UpstreamError,
)

__all__ = ["HEALTH_LABELS", "AccountHealth", "AccountOps", "HealthState", "health_of"]

logger = logging.getLogger(__name__)

HealthState = Literal["ok", "unreachable", "refused", "no_worker", "failing"]
"""The outcome of checking an account's token: accepted; Better Stack could not be reached;
Better Stack refused the token; no worker answered; Better Stack answered with an error."""

HEALTH_LABELS: dict[str, str] = {
    "ok": "OK",
    "unreachable": "Unreachable",
    "refused": "Token refused",
    "no_worker": "No worker",
    "failing": "Better Stack error",
}
"""The word each health state shows as (a badge is never colour alone)."""


class AccountHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The last check of an account's token with Better Stack."""

    state: HealthState
    message: str = ""
    """What went wrong, in the backend's words (empty when ``ok``)."""
    checked_at: datetime

    @property
    def label(self) -> str:
        """The badge's word."""
        return HEALTH_LABELS[self.state]


def health_of(exc: StackmcpError | None, at: datetime) -> AccountHealth:
    """What a verify outcome means for the health badge (``exc`` is ``None`` when accepted)."""
    if exc is None:
        return AccountHealth(state="ok", checked_at=at)
    state: HealthState
    if isinstance(exc, InvalidArgument | Unauthenticated | PermissionDenied):
        state = "refused"
    elif isinstance(exc, Unavailable | DeadlineExceeded):
        state = "no_worker" if "worker" in exc.message.lower() else "unreachable"
    elif isinstance(exc, UpstreamError) and "unreachable" in exc.message.lower():
        state = "unreachable"
    else:
        state = "failing"
    return AccountHealth(state=state, message=_sentence(exc), checked_at=at)


def _sentence(exc: StackmcpError) -> str:
    """The error's message, with a field's own words when the message only names the field."""
    field_texts = [text for texts in (exc.fields or {}).values() for text in texts]
    return exc.message if not field_texts else f"{exc.message}: {' '.join(field_texts)}"


_HEALTH = msgspec.json.Decoder(AccountHealth)


class AccountOps:
    """Rename, rotate the token of and re-verify integrated accounts.

    Args:
        store: provisioning's store (the same as the provisioner's).
        events: the publisher the audit trail records through.
        subjects: subject names (the audit stream's).
        box: seals the Better Stack token at rest.
        verify: checks a (sealed) token with Better Stack through a worker.
        redis: where the health of each account is kept.
        keys: the key layout.
    """

    def __init__(
        self,
        *,
        store: Store,
        events: EventPublisher,
        subjects: Subjects,
        box: SecretBox,
        verify: Verifier,
        redis: Redis,
        keys: RedisKeys,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._events = events
        self._subjects = subjects
        self._audit = AuditTrail(events, subjects, clock=clock)
        self._box = box
        self._verify = verify
        self._redis = redis
        self._keys = keys
        self._clock = clock

    async def _account(self, account_id: str) -> AccountRecord:
        record = (
            await self._store.get_account(account_id)
            if ACCOUNT_ID_RE.fullmatch(account_id)
            else None
        )
        if record is None:
            raise NotFound(f"no integrated account {account_id!r}")
        return record

    async def update_account(
        self,
        account_id: str,
        *,
        name: str | None = None,
        api_token: str | None = None,
        operator: str,
    ) -> AccountRecord:
        """Rename the account and/or replace its Better Stack token.

        A new token is checked with Better Stack before it is stored (sealed, never logged);
        the account keeps its old token when the check fails. A change is announced as
        ``AccountUpdated`` (workers drop their cached copy at once) and each change is one audit
        record (``account.renamed``, ``account.token_rotated``).

        Raises:
            NotFound: there is no such account.
            InvalidArgument: the name or token is malformed (``fields`` name them), or Better
                Stack refused the token.
            Unavailable, DeadlineExceeded: the token could not be checked (the message says
                whether Better Stack or a worker did not answer).
        """
        record = await self._account(account_id)
        errors = FieldErrors()
        new_name = None if name is None else check_name(errors, "name", name)
        token = None if api_token is None else check_betterstack_token(errors, api_token)
        errors.raise_if_any()
        updated = record
        if new_name is not None and new_name != record.name:
            updated = replace(updated, name=new_name)
        if token is not None:
            sealed = self._box.seal(token, context=credential_context(account_id))
            updated = replace(updated, sealed_token=sealed)
            await self._checked(updated)
        if updated == record:
            return record
        await self._store.put_account(updated)
        now = self._clock()
        await self._events.publish(
            self._subjects.account_event("updated"),
            AccountUpdated(
                id=new_event_id(), occurred_at=now, account_id=account_id, name=updated.name
            ),
        )
        if updated.name != record.name:
            changes = {"name": {"from": record.name, "to": updated.name}}
            await self._audit.record(
                operator, "account.renamed", account_id=account_id, name=updated.name,
                changes=changes, at=now,
            )  # fmt: skip
        if token is not None:
            await self._audit.record(
                operator, "account.token_rotated", account_id=account_id, name=updated.name, at=now
            )
            logger.info("account %s got a new Better Stack token", account_id)
        return updated

    async def _checked(self, record: AccountRecord) -> None:
        """Verify a new token; once accepted it is the account's health (a refused one is not:
        the account keeps its old token)."""
        await self._verify(record)
        await self._remember(record.id, health_of(None, self._clock()))

    async def verify_account(self, account_id: str) -> AccountHealth:
        """Check the account's stored token with Better Stack now; the health it has since.

        Raises:
            NotFound: there is no such account.
        """
        record = await self._account(account_id)
        try:
            await self._verify(record)
        except NotFound:
            raise
        except StackmcpError as exc:
            health = health_of(exc, self._clock())
        else:
            health = health_of(None, self._clock())
        await self._remember(account_id, health)
        return health

    async def note_verified(self, account_id: str) -> None:
        """Remember that the account's token was just accepted (e.g. when it was connected)."""
        await self._remember(account_id, health_of(None, self._clock()))

    async def health(self, account_ids: Sequence[str]) -> dict[str, AccountHealth]:
        """The last known health of each account checked at least once (a store failure
        shows as no badge rather than failing the page)."""
        if not account_ids:
            return {}
        try:
            raws = await self._redis.hmget(self._keys.account_health, list(account_ids))
        except RedisError as exc:
            logger.warning("account health unreadable: %s", type(exc).__name__)
            return {}
        found: dict[str, AccountHealth] = {}
        for account_id, raw in zip(account_ids, raws, strict=True):
            if raw is None:
                continue
            try:
                found[account_id] = _HEALTH.decode(raw)
            except msgspec.DecodeError:
                continue
        return found

    async def forget(self, account_id: str) -> None:
        """Drop a removed account's health."""
        try:
            await self._redis.hdel(self._keys.account_health, account_id)
        except RedisError as exc:
            logger.warning("account health not dropped: %s", type(exc).__name__)

    async def _remember(self, account_id: str, health: AccountHealth) -> None:
        try:
            await self._redis.hset(
                self._keys.account_health, account_id, msgspec.json.encode(health)
            )
        except RedisError as exc:
            logger.warning("account health not kept: %s", type(exc).__name__)
