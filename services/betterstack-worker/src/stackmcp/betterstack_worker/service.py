"""The betterstack-worker process: NATS endpoints ``catalog.get`` and ``tool.call``.

Wiring only: configuration from the environment, connections, the :class:`Executor`, and the
two endpoints in the worker queue group (so replicas share the load). On stop, the endpoints
stop taking requests and finish those in flight before connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.betterstack_worker.config import WorkerConfig, cursor_key
from stackmcp.betterstack_worker.cursors import CursorSigner
from stackmcp.betterstack_worker.execution.accounts import (
    AccountStore,
    forget_on_account_events,
)
from stackmcp.betterstack_worker.execution.executor import Executor
from stackmcp.betterstack_worker.execution.verify import AccountVerifier
from stackmcp.betterstack_worker.upstream import UpstreamClient, UpstreamConfig
from stackmcp.contracts.accounts import AccountVerifyRequest
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import CatalogRequest, ToolCallRequest
from stackmcp.runtime.config import NatsConfig, RedisConfig, load_section
from stackmcp.runtime.crypto import CryptoConfig, SecretBox
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.health import HealthConfig, HealthServer, NatsReadiness
from stackmcp.runtime.natsx import Endpoint, connect
from stackmcp.runtime.redisx import connect_redis

__all__ = ["run"]

logger = logging.getLogger(__name__)
NAME = "stackmcp-betterstack-worker"


async def run(stop: asyncio.Event) -> None:
    """Serve tool calls until ``stop`` is set, then drain."""
    nats_config = load_section(NatsConfig, "NATS")
    redis_config = load_section(RedisConfig, "REDIS")
    crypto = load_section(CryptoConfig, "CRYPTO")
    worker = load_section(WorkerConfig, "WORKER")
    upstream_config = load_section(UpstreamConfig, "UPSTREAM")
    box = SecretBox(crypto)
    signer = CursorSigner(cursor_key(worker, crypto), ttl=worker.cursor_ttl)
    catalog = default_catalog()
    readiness = NatsReadiness(stop)
    health = HealthServer(load_section(HealthConfig, "HEALTH"), readiness)
    async with contextlib.AsyncExitStack() as stack:
        await health.start()
        stack.push_async_callback(health.close)
        try:
            nc = await connect(nats_config, NAME, stop=stop)
            stack.push_async_callback(nc.drain)
            redis = await connect_redis(redis_config, stop=stop)
            stack.push_async_callback(redis.aclose)
        except Unavailable:
            logger.info("%s stopped before its servers were reachable", NAME)
            return
        upstream = UpstreamClient(upstream_config)
        stack.push_async_callback(upstream.aclose)
        accounts = AccountStore(
            redis, RedisKeys(redis_config.key_prefix), box, ttl=worker.account_cache_ttl
        )
        executor = Executor(catalog, accounts, upstream, signer)
        verifier = AccountVerifier(box, upstream)
        subjects = Subjects(nats_config.subject_prefix)
        await forget_on_account_events(nc, subjects.account_events, accounts)
        queue = subjects.worker_queue_group
        endpoints = [
            Endpoint(nc, subjects.catalog_get, queue, CatalogRequest, executor.catalog),
            Endpoint(nc, subjects.account_verify, queue, AccountVerifyRequest, verifier.verify),
            Endpoint(
                nc,
                subjects.tool_call,
                queue,
                ToolCallRequest,
                executor.call,
                max_concurrency=worker.max_concurrency,
            ),
        ]
        for endpoint in endpoints:
            await endpoint.start()
        readiness.serving(nc)
        logger.info(
            "%s ready: %d tools, catalogue %s", NAME, len(catalog.tools), catalog.version[:12]
        )
        await stop.wait()
        logger.info("%s draining", NAME)
        await asyncio.gather(*(e.drain(nats_config.drain_timeout) for e in endpoints))
    logger.info("%s stopped", NAME)
