"""Redis persistence of accounts, MCP servers, API tokens and named admin tokens, in the layout of
``contracts``.

Every change of more than one key is one ``MULTI``/``EXEC`` transaction, so a gateway, worker or
expiry replica never reads half a change. Tokens are only ever stored as hashes and Better Stack
credentials only sealed; this module never sees either in plain text.

A revoked MCP server is not deleted: its grant key goes (the URL is refused at once), its record
is rewritten as ``revoked`` and kept, with an :class:`~stackmcp.contracts.servers.EndedGrant`
under its token hash, for the history retention (Redis key expiry). The account's set of server
ids keeps its id until a listing finds the record gone and drops it.

With ``STACKMCP_REDIS_WAIT_REPLICAS`` set, every write waits (``WAIT``, see
:func:`stackmcp.runtime.redisx.replicated`) until that many replicas hold it, so a write the admin
API acknowledged survives a failover. Too few acknowledgements in time: the write stands and a
warning is logged. A failover during the write: its fate is unknown, so it is reported
unavailable (503) for the caller to check and retry.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from stackmcp.contracts.accounts import AccountRecord
from stackmcp.contracts.apitokens import ApiTokenRecord
from stackmcp.contracts.grants import grant_key_ttl
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.servers import (
    SERVER_EXPIRES_FIELD,
    SERVER_RECORD_FIELD,
    EndedGrant,
    McpServerRecord,
)
from stackmcp.provisioning.admintokens import AdminTokenRecord
from stackmcp.runtime.config import RedisConfig
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.redisx import replicated

__all__ = ["Store", "StoreUnavailable"]

_ACCOUNT = msgspec.json.Decoder(AccountRecord)
_SERVER = msgspec.json.Decoder(McpServerRecord)
_API_TOKEN = msgspec.json.Decoder(ApiTokenRecord)
_ADMIN_TOKEN = msgspec.json.Decoder(AdminTokenRecord)
_WATCH_ATTEMPTS = 5
"""Tries of an optimistic (``WATCH``) write before giving up on a key that keeps changing."""


class StoreUnavailable(Unavailable):
    """Redis could not be reached."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _unavailable(exc: RedisError) -> StoreUnavailable:
    return StoreUnavailable(f"the state store is unreachable ({type(exc).__name__}); try again")


class Store:
    """Reads and writes provisioning's records under one key prefix.

    Args:
        redis: the client (from ``connect_redis``).
        keys: the key layout.
        redis_config: ``wait_replicas`` and ``wait_timeout`` for the writes (the defaults, no
            waiting, when omitted).
    """

    def __init__(
        self, redis: Redis, keys: RedisKeys, redis_config: RedisConfig | None = None
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._config = redis_config or RedisConfig()

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[None]:
        """Wrap one write: after it, wait for the replicas ``wait_replicas`` asks for."""
        async with replicated(self._redis, self._config) as replication:
            yield
        if not replication.same_primary:
            raise StoreUnavailable(
                "the state store failed over during the change; check whether it was made "
                "and try again"
            )

    # Accounts ------------------------------------------------------------------------------

    async def put_account(self, record: AccountRecord) -> None:
        """Store a new account and list it."""
        try:
            async with self._write(), self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._keys.account(record.id), msgspec.json.encode(record))
                pipe.sadd(self._keys.accounts, record.id)
                await pipe.execute()
        except RedisError as exc:
            raise _unavailable(exc) from None

    async def get_account(self, account_id: str) -> AccountRecord | None:
        """The account, or ``None`` when there is none with this id."""
        try:
            raw = await self._redis.get(self._keys.account(account_id))
        except RedisError as exc:
            raise _unavailable(exc) from None
        return None if raw is None else _ACCOUNT.decode(raw)

    async def list_accounts(self) -> list[AccountRecord]:
        """Every account, oldest first."""
        try:
            ids = sorted(_text(m) for m in await self._redis.smembers(self._keys.accounts))
            raws = await self._redis.mget([self._keys.account(i) for i in ids]) if ids else []
        except RedisError as exc:
            raise _unavailable(exc) from None
        records = [_ACCOUNT.decode(raw) for raw in raws if raw is not None]
        return sorted(records, key=lambda r: (r.created_at, r.id))

    async def delete_account(self, account_id: str) -> list[McpServerRecord]:
        """Remove an account and every MCP server of it (ended ones too, with their history);
        return the servers removed."""
        servers = await self.list_servers(account_id)
        try:
            async with self._write(), self._redis.pipeline(transaction=True) as pipe:
                for server in servers:
                    pipe.delete(self._keys.grant(server.token_hash))
                    pipe.delete(self._keys.ended_grant(server.token_hash))
                    pipe.delete(self._keys.mcp_server(server.id))
                    pipe.delete(self._keys.server_usage(server.id))
                pipe.delete(self._keys.mcp_servers_of_account(account_id))
                pipe.delete(self._keys.account(account_id))
                pipe.srem(self._keys.accounts, account_id)
                await pipe.execute()
        except RedisError as exc:
            raise _unavailable(exc) from None
        return servers

    # MCP servers ---------------------------------------------------------------------------

    async def put_server(self, record: McpServerRecord, now: datetime, *, create: bool) -> bool:
        """Store a server's grant and record together.

        Args:
            record: the new state.
            now: the time ``expires_at`` is measured from (for the grant key's Redis expiry).
            create: ``True`` for a new server; ``False`` to update one, which succeeds only
                while its record still exists and is active (expiry or a revocation may have
                ended it).

        Returns:
            Whether the record was written (always ``True`` when creating).
        """
        server_key = self._keys.mcp_server(record.id)
        try:
            async with self._write(), self._redis.pipeline(transaction=True) as pipe:
                if not create:
                    await pipe.watch(server_key)
                    raw = await pipe.hget(server_key, SERVER_RECORD_FIELD)
                    if raw is None or _SERVER.decode(raw).status != "active":
                        return False
                    pipe.multi()  # type: ignore[no-untyped-call]
                self._queue_server(pipe, record, now)
                await pipe.execute()
        except WatchError:
            return False
        except RedisError as exc:
            raise _unavailable(exc) from None
        return True

    def _queue_server(self, pipe: Redis, record: McpServerRecord, now: datetime) -> None:
        grant = record.grant
        server_key = self._keys.mcp_server(record.id)
        pipe.set(
            self._keys.grant(record.token_hash),
            msgspec.json.encode(grant),
            ex=grant_key_ttl(grant, now),
        )
        pipe.hset(server_key, SERVER_RECORD_FIELD, msgspec.json.encode(record))
        if grant.expires_at is None:
            pipe.hdel(server_key, SERVER_EXPIRES_FIELD)
        else:
            pipe.hset(server_key, SERVER_EXPIRES_FIELD, repr(grant.expires_at.timestamp()))
        pipe.sadd(self._keys.mcp_servers_of_account(grant.account_id), record.id)

    async def rotate_server(
        self, current: McpServerRecord, rotated: McpServerRecord, now: datetime
    ) -> bool:
        """Move a server to a new URL token in one transaction: the grant under the old token
        hash goes (its URL is refused at once), the same grant is stored under the new hash and
        the record is rewritten with it.

        Returns:
            Whether it was done: ``False`` when the stored record is no longer ``current``
            (updated, rotated, revoked or expired meanwhile).
        """
        return await self._replace_server(
            current, lambda pipe: self._queue_server(pipe, rotated, now)
        )

    async def get_server(self, account_id: str, server_id: str) -> McpServerRecord | None:
        """The server of ``account_id`` with this id, or ``None``."""
        try:
            raw = await self._redis.hget(self._keys.mcp_server(server_id), SERVER_RECORD_FIELD)
        except RedisError as exc:
            raise _unavailable(exc) from None
        if raw is None:
            return None
        record = _SERVER.decode(raw)
        return record if record.grant.account_id == account_id else None

    async def list_servers(self, account_id: str) -> list[McpServerRecord]:
        """Every server of an account, ended ones still in their history included, oldest
        first. Ids whose record is gone (history retention over) leave the account's set."""
        servers_key = self._keys.mcp_servers_of_account(account_id)
        try:
            members = sorted(_text(m) for m in await self._redis.smembers(servers_key))
            async with self._redis.pipeline(transaction=False) as pipe:
                for member in members:
                    pipe.hget(self._keys.mcp_server(member), SERVER_RECORD_FIELD)
                raws: Sequence[bytes | None] = await pipe.execute()
            gone = [member for member, raw in zip(members, raws, strict=True) if raw is None]
            if gone:
                await self._redis.srem(servers_key, *gone)
        except RedisError as exc:
            raise _unavailable(exc) from None
        records = [_SERVER.decode(raw) for raw in raws if raw is not None]
        return sorted(records, key=lambda r: (r.grant.created_at or r.updated_at, r.id))

    async def count_servers(self, account_id: str) -> int:
        """How many servers of an account are active (not revoked, not purged as expired)."""
        return sum(1 for r in await self.list_servers(account_id) if r.status == "active")

    async def end_server(
        self, current: McpServerRecord, ended: McpServerRecord, grant: EndedGrant, keep: int
    ) -> bool:
        """Revoke a server in one transaction: delete its grant key (its URL is refused at
        once), store ``ended`` in place of its record without ``expires_at`` (so expiry leaves
        it alone), keep the hash ``keep`` seconds, and store ``grant`` under the token hash for
        as long.

        Returns:
            Whether it was done: ``False`` when the stored record is no longer ``current``
            (updated, revoked or expired meanwhile).
        """
        server_key = self._keys.mcp_server(current.id)

        def queue(pipe: Redis) -> None:
            pipe.hset(server_key, SERVER_RECORD_FIELD, msgspec.json.encode(ended))
            pipe.hdel(server_key, SERVER_EXPIRES_FIELD)
            pipe.expire(server_key, keep)
            pipe.set(
                self._keys.ended_grant(current.token_hash), msgspec.json.encode(grant), ex=keep
            )

        return await self._replace_server(current, queue)

    async def _replace_server(
        self, current: McpServerRecord, queue: Callable[[Redis], None]
    ) -> bool:
        """In one transaction, if the stored record is still ``current``: delete the grant
        under its token hash (its URL is refused at once) and run what ``queue`` adds.

        Returns:
            Whether it was done (``False``: the record changed or went meanwhile).
        """
        server_key = self._keys.mcp_server(current.id)
        try:
            async with self._write(), self._redis.pipeline(transaction=True) as pipe:
                await pipe.watch(server_key)
                raw = await pipe.hget(server_key, SERVER_RECORD_FIELD)
                if raw is None or _SERVER.decode(raw) != current:
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.delete(self._keys.grant(current.token_hash))
                queue(pipe)
                await pipe.execute()
        except WatchError:
            return False
        except RedisError as exc:
            raise _unavailable(exc) from None
        return True

    async def server_usage(self, server_ids: Sequence[str]) -> list[dict[bytes | str, bytes | str]]:
        """The usage hash of each server (``HGETALL``), in order, in one round trip."""
        if not server_ids:
            return []
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for server_id in server_ids:
                    pipe.hgetall(self._keys.server_usage(server_id))
                found: list[dict[bytes | str, bytes | str]] = await pipe.execute()
        except RedisError as exc:
            raise _unavailable(exc) from None
        return found

    # API tokens ----------------------------------------------------------------------------

    async def put_api_token(self, record: ApiTokenRecord) -> None:
        """Store a new API token record (by hash) and index it by id."""
        try:
            async with self._write(), self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._keys.api_token(record.token_hash), msgspec.json.encode(record))
                pipe.sadd(self._keys.api_tokens, record.token_hash)
                pipe.hset(self._keys.api_token_ids, record.id, record.token_hash)
                await pipe.execute()
        except RedisError as exc:
            raise _unavailable(exc) from None

    async def list_api_tokens(self) -> list[ApiTokenRecord]:
        """Every API token record, oldest first."""
        try:
            hashes = sorted(_text(m) for m in await self._redis.smembers(self._keys.api_tokens))
            raws = (
                await self._redis.mget([self._keys.api_token(h) for h in hashes]) if hashes else []
            )
        except RedisError as exc:
            raise _unavailable(exc) from None
        records = [_API_TOKEN.decode(raw) for raw in raws if raw is not None]
        return sorted(records, key=lambda r: (r.created_at, r.id))

    async def get_api_token(self, token_id: str) -> ApiTokenRecord | None:
        """One API token record by id, or ``None`` when unknown."""
        try:
            token_hash = await self._redis.hget(self._keys.api_token_ids, token_id)
            raw = (
                None
                if token_hash is None
                else await self._redis.get(self._keys.api_token(_text(token_hash)))
            )
        except RedisError as exc:
            raise _unavailable(exc) from None
        return None if raw is None else _API_TOKEN.decode(raw)

    async def delete_api_token(self, token_id: str) -> ApiTokenRecord | None:
        """Remove an API token by id; the removed record, or ``None`` when unknown."""
        try:
            token_hash = await self._redis.hget(self._keys.api_token_ids, token_id)
            if token_hash is None:
                return None
            key = self._keys.api_token(_text(token_hash))
            async with self._write(), self._redis.pipeline(transaction=True) as pipe:
                pipe.get(key)
                pipe.delete(key)
                pipe.srem(self._keys.api_tokens, token_hash)
                pipe.hdel(self._keys.api_token_ids, token_id)
                raw, *_ = await pipe.execute()
        except RedisError as exc:
            raise _unavailable(exc) from None
        return None if raw is None else _API_TOKEN.decode(raw)

    # Named admin tokens --------------------------------------------------------------------

    async def put_admin_token(self, record: AdminTokenRecord) -> bool:
        """Store a named admin token unless its name is taken; whether it was stored.

        The name check and the write are one optimistic transaction on the id index, so two
        operators creating the same name at once cannot both succeed.
        """
        for _ in range(_WATCH_ATTEMPTS):
            try:
                async with self._write(), self._redis.pipeline(transaction=True) as pipe:
                    await pipe.watch(self._keys.admin_token_ids)
                    hashes = [
                        _text(h) for h in (await pipe.hgetall(self._keys.admin_token_ids)).values()
                    ]
                    raws = (
                        await pipe.mget([self._keys.admin_token_record(h) for h in hashes])
                        if hashes
                        else []
                    )
                    if any(_ADMIN_TOKEN.decode(raw).name == record.name for raw in raws if raw):
                        return False
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(
                        self._keys.admin_token_record(record.token_hash),
                        msgspec.json.encode(record),
                    )
                    pipe.hset(self._keys.admin_token_ids, record.id, record.token_hash)
                    await pipe.execute()
                return True
            except WatchError:
                continue
            except RedisError as exc:
                raise _unavailable(exc) from None
        raise StoreUnavailable("the admin tokens kept changing during the change; try again")

    async def list_admin_tokens(self) -> list[AdminTokenRecord]:
        """Every named admin token record, oldest first."""
        try:
            hashes = [
                _text(h) for h in (await self._redis.hgetall(self._keys.admin_token_ids)).values()
            ]
            raws = (
                await self._redis.mget([self._keys.admin_token_record(h) for h in hashes])
                if hashes
                else []
            )
        except RedisError as exc:
            raise _unavailable(exc) from None
        records = [_ADMIN_TOKEN.decode(raw) for raw in raws if raw is not None]
        return sorted(records, key=lambda r: (r.created_at, r.id))

    async def find_admin_token(self, token_hash: str) -> AdminTokenRecord | None:
        """The named admin token with this hash, or ``None``."""
        try:
            raw = await self._redis.get(self._keys.admin_token_record(token_hash))
        except RedisError as exc:
            raise _unavailable(exc) from None
        return None if raw is None else _ADMIN_TOKEN.decode(raw)

    async def admin_token_hash_of(self, token_id: str) -> str | None:
        """The hash of the named admin token with this id, while it is not revoked."""
        try:
            raw = await self._redis.hget(self._keys.admin_token_ids, token_id)
        except RedisError as exc:
            raise _unavailable(exc) from None
        return None if raw is None else _text(raw)

    async def delete_admin_token(self, token_id: str) -> AdminTokenRecord | None:
        """Revoke a named admin token by id; the removed record, or ``None`` when unknown."""
        try:
            token_hash = await self._redis.hget(self._keys.admin_token_ids, token_id)
            if token_hash is None:
                return None
            key = self._keys.admin_token_record(_text(token_hash))
            async with self._write(), self._redis.pipeline(transaction=True) as pipe:
                pipe.get(key)
                pipe.delete(key)
                pipe.hdel(self._keys.admin_token_ids, token_id)
                raw, _, removed = await pipe.execute()
        except RedisError as exc:
            raise _unavailable(exc) from None
        return None if raw is None or not removed else _ADMIN_TOKEN.decode(raw)

    # Bootstrap admin token -----------------------------------------------------------------

    async def admin_token_hash(self) -> str | None:
        """The stored hash of the admin token, if any."""
        try:
            raw = await self._redis.get(self._keys.admin_token)
        except RedisError as exc:
            raise _unavailable(exc) from None
        return None if raw is None else _text(raw)

    async def set_admin_token_hash(self, token_hash: str, *, only_if_absent: bool) -> bool:
        """Store the admin token's hash; with ``only_if_absent``, only when none is stored yet."""
        try:
            async with self._write():
                done = await self._redis.set(self._keys.admin_token, token_hash, nx=only_if_absent)
        except RedisError as exc:
            raise _unavailable(exc) from None
        return bool(done)
