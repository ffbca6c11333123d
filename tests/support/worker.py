"""Accounts written the way provisioning writes them, and a worker served over real NATS.

:func:`store_account` seals a token with the libs' :class:`SecretBox` and stores the
:class:`AccountRecord` under the libs' key, exactly as provisioning will. :class:`WorkerHarness`
runs the worker's real :class:`Executor` behind real NATS endpoints (with its own subject prefix,
so tests never see each other's workers) and calls tools through the real NATS request path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import redis.asyncio as aioredis
from nats.aio.client import Client

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.betterstack_worker.cursors import CursorSigner
from stackmcp.betterstack_worker.execution.accounts import (
    AccountStore,
    forget_on_account_events,
)
from stackmcp.betterstack_worker.execution.claims import WriteClaims
from stackmcp.betterstack_worker.execution.executor import Executor
from stackmcp.betterstack_worker.execution.resume import ResumeScheduler
from stackmcp.betterstack_worker.upstream import UpstreamClient, UpstreamConfig
from stackmcp.contracts.accounts import AccountRecord, credential_context
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import (
    CatalogRequest,
    CatalogResponse,
    ToolCallRequest,
    ToolCallResult,
)
from stackmcp.runtime.config import NatsConfig
from stackmcp.runtime.crypto import CryptoConfig, SecretBox, new_key
from stackmcp.runtime.natsx import Endpoint, connect, request

ALL_METHODS = ("read", "write")


async def store_account(
    redis: aioredis.Redis,
    box: SecretBox,
    *,
    base_url: str,
    token: str,
    account_id: str | None = None,
    keys: RedisKeys | None = None,
    team_name: str | None = None,
) -> AccountRecord:
    """Write an integrated account record (token sealed) and return it."""
    account_id = account_id or f"acc_{secrets.token_hex(6)}"
    record = AccountRecord(
        id=account_id,
        name="test account",
        base_url=base_url,
        team_name=team_name,
        sealed_token=box.seal(token, context=credential_context(account_id)),
        created_at=dt.datetime.now(dt.UTC),
    )
    await redis.set((keys or RedisKeys()).account(account_id), msgspec.json.encode(record))
    return record


@dataclass
class WorkerHarness:
    """A running in-process worker and a NATS client to call it with."""

    nc: Client
    subjects: Subjects
    account_id: str
    server_id: str
    upstream: UpstreamClient
    accounts: AccountStore
    redis: aioredis.Redis
    executor: Executor
    worker_id: str
    """Served on :meth:`Subjects.worker_tool_call` of this id as well as the queue group."""

    async def call(
        self,
        tool: str,
        arguments: dict[str, Any] | None = None,
        *,
        methods: Sequence[str] = ALL_METHODS,
        tags: Sequence[str] = (),
        server_id: str | None = None,
        account_id: str | None = None,
        timeout: float = 10.0,
    ) -> ToolCallResult:
        """Call ``tool`` through NATS as a gateway would."""
        message = ToolCallRequest(
            server_id=server_id or self.server_id,
            account_id=account_id or self.account_id,
            tool=tool,
            arguments=arguments or {},
            methods=tuple(methods),
            tags=tuple(tags),
            timeout=timeout,
        )
        return await request(
            self.nc, self.subjects.tool_call, message, ToolCallResult, timeout=timeout + 1
        )

    async def catalog(self, known_version: str = "") -> CatalogResponse:
        """Ask for the catalogue through NATS."""
        return await request(
            self.nc,
            self.subjects.catalog_get,
            CatalogRequest(known_version=known_version),
            CatalogResponse,
            timeout=5,
        )


@contextlib.asynccontextmanager
async def running_worker(
    nats_url: str,
    redis_url: str,
    *,
    base_url: str,
    token: str,
    upstream_config: UpstreamConfig | None = None,
    cursor_ttl: float = 3600.0,
    prefix: str | None = None,
) -> AsyncIterator[WorkerHarness]:
    """Serve ``catalog.get``/``tool.call`` with the real executor until the block ends (under
    ``prefix`` for subjects and keys when given, as a replica configured with it would)."""
    box = SecretBox(CryptoConfig(key=new_key()))
    subjects = Subjects(prefix or f"t{secrets.token_hex(4)}")
    keys = RedisKeys(prefix) if prefix else RedisKeys()
    redis = aioredis.Redis.from_url(redis_url)
    nc = await connect(NatsConfig(url=nats_url), "test-worker")
    upstream = UpstreamClient(upstream_config or UpstreamConfig(timeout=5, connect_timeout=1))
    try:
        account = await store_account(redis, box, base_url=base_url, token=token, keys=keys)
        accounts = AccountStore(redis, keys, box, ttl=60.0)
        await forget_on_account_events(nc, subjects.account_events, accounts)
        signer = CursorSigner(secrets.token_bytes(32), ttl=cursor_ttl)
        worker_id = secrets.token_hex(4)
        claims = WriteClaims(redis, keys, worker_id)
        resumes = ResumeScheduler(redis, keys)
        executor = Executor(default_catalog(), accounts, upstream, signer, claims, resumes=resumes)
        queue = subjects.worker_queue_group
        direct = subjects.worker_tool_call(worker_id)
        endpoints = [
            Endpoint(nc, subjects.catalog_get, queue, CatalogRequest, executor.catalog),
            Endpoint(
                nc,
                subjects.tool_call,
                queue,
                ToolCallRequest,
                executor.call,
                direct=direct,
                beacon=lambda call: call.beacon,
            ),
        ]
        for endpoint in endpoints:
            await endpoint.start()
        yield WorkerHarness(
            nc=nc,
            subjects=subjects,
            account_id=account.id,
            server_id=f"srv_{secrets.token_hex(6)}",
            upstream=upstream,
            accounts=accounts,
            redis=redis,
            executor=executor,
            worker_id=worker_id,
        )
        for endpoint in endpoints:
            await endpoint.drain()
    finally:
        await upstream.aclose()
        await nc.drain()
        await redis.aclose()
