"""MCP server grants and API tokens written the way provisioning writes them.

:func:`mint_grant` stores a :class:`Grant` under the libs' key with Redis expiry from
:func:`grant_key_ttl`; :func:`revoke_grant` and
:func:`revoke_api_token` delete the records and publish the lifecycle event gateways listen to.
Events go out as plain core publishes (JetStream would reach core subscribers the same way).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

import msgspec
import redis.asyncio as aioredis
from nats.aio.client import Client

from stackmcp.contracts import (
    ApiTokenRecord,
    ApiTokenRevoked,
    Grant,
    McpServerDeleted,
    McpServerUpdated,
    RedisKeys,
    Subjects,
    grant_key_ttl,
    new_event_id,
    utcnow,
)
from stackmcp.contracts.tokens import API_TOKEN_PREFIX, SERVER_TOKEN_PREFIX, hash_token, new_token


async def mint_grant(
    redis: aioredis.Redis,
    keys: RedisKeys | None = None,
    *,
    account_id: str,
    methods: Sequence[str] = ("read",),
    tags: Sequence[str] = (),
    require_api_token_auth: bool = False,
    expires_at: dt.datetime | None = None,
    server_id: str | None = None,
    name: str = "test server",
    **policy: Any,
) -> tuple[str, Grant]:
    """Mint an MCP server: a new URL token and its stored grant (``policy``: further
    :class:`Grant` fields such as ``pin`` or ``confirm``). Returns ``(token, grant)``."""
    keys = keys or RedisKeys()
    token = new_token(SERVER_TOKEN_PREFIX)
    token_hash = hash_token(token)
    now = utcnow()
    grant = Grant(
        server_id=server_id or f"srv_{secrets.token_hex(6)}",
        account_id=account_id,
        name=name,
        methods=tuple(methods),
        tags=tuple(tags),
        require_api_token_auth=require_api_token_auth,
        expires_at=expires_at,
        created_at=now,
        **policy,
    )
    await redis.set(
        keys.grant(token_hash), msgspec.json.encode(grant), ex=grant_key_ttl(grant, now)
    )
    return token, grant


async def update_grant(
    redis: aioredis.Redis,
    nc: Client,
    subjects: Subjects,
    keys: RedisKeys | None,
    token: str,
    grant: Grant,
) -> None:
    """Overwrite the grant of ``token`` with ``grant`` and publish ``McpServerUpdated``."""
    keys = keys or RedisKeys()
    token_hash = hash_token(token)
    await redis.set(
        keys.grant(token_hash), msgspec.json.encode(grant), ex=grant_key_ttl(grant, utcnow())
    )
    event = McpServerUpdated(
        id=new_event_id(), occurred_at=utcnow(), grant=grant, token_hash=token_hash
    )
    await nc.publish(subjects.mcp_server_event("updated"), msgspec.json.encode(event))
    await nc.flush()


async def revoke_grant(
    redis: aioredis.Redis,
    nc: Client,
    subjects: Subjects,
    keys: RedisKeys | None,
    token: str,
    grant: Grant,
) -> None:
    """Delete the grant of ``token`` and publish ``McpServerDeleted``."""
    keys = keys or RedisKeys()
    token_hash = hash_token(token)
    await redis.delete(keys.grant(token_hash))
    event = McpServerDeleted(
        id=new_event_id(),
        occurred_at=utcnow(),
        server_id=grant.server_id,
        account_id=grant.account_id,
        token_hash=token_hash,
    )
    await nc.publish(subjects.mcp_server_event("deleted"), msgspec.json.encode(event))
    await nc.flush()


async def mint_api_token(
    redis: aioredis.Redis, keys: RedisKeys | None = None, name: str = "ci"
) -> str:
    """Mint an installation-wide API token; returns the token (shown once in real life)."""
    keys = keys or RedisKeys()
    token = new_token(API_TOKEN_PREFIX)
    token_hash = hash_token(token)
    record = ApiTokenRecord(
        id=f"apt_{secrets.token_hex(6)}", name=name, token_hash=token_hash, created_at=utcnow()
    )
    await redis.set(keys.api_token(token_hash), msgspec.json.encode(record))
    await redis.sadd(keys.api_tokens, token_hash)
    return token


async def revoke_api_token(
    redis: aioredis.Redis,
    nc: Client,
    subjects: Subjects,
    keys: RedisKeys | None,
    token: str,
) -> None:
    """Delete an API token's record and publish ``ApiTokenRevoked``."""
    keys = keys or RedisKeys()
    token_hash = hash_token(token)
    await redis.delete(keys.api_token(token_hash))
    await redis.srem(keys.api_tokens, token_hash)
    event = ApiTokenRevoked(id=new_event_id(), occurred_at=utcnow(), token_hash=token_hash)
    await nc.publish(subjects.api_token_event("revoked"), msgspec.json.encode(event))
    await nc.flush()
