"""The betterstack-worker process: NATS endpoints ``catalog.get`` and ``tool.call``.

Wiring only: configuration from the environment, connections, the :class:`Executor`, and the
endpoints in the worker queue group (so replicas share the load). ``tool.call`` is also served
on a subject of this replica alone, which gateways pick from the presence announcements this
worker publishes (see :mod:`stackmcp.gateway.workers`). On stop, the worker announces that it is
leaving, the endpoints stop taking requests and finish those in flight before connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import msgspec
import nats.errors
from nats.aio.client import Client

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.betterstack_worker.config import WorkerConfig, cursor_key
from stackmcp.betterstack_worker.cursors import CursorSigner
from stackmcp.betterstack_worker.execution.accounts import (
    AccountStore,
    forget_on_account_events,
)
from stackmcp.betterstack_worker.execution.claims import WriteClaims
from stackmcp.betterstack_worker.execution.executor import Executor
from stackmcp.betterstack_worker.execution.resume import ResumeScheduler
from stackmcp.betterstack_worker.execution.verify import AccountVerifier
from stackmcp.betterstack_worker.upstream import UpstreamClient, UpstreamConfig
from stackmcp.contracts.accounts import AccountVerifyRequest
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import CatalogRequest, ToolCallRequest, WorkerPresence
from stackmcp.runtime.config import NatsConfig, RedisConfig, load_section
from stackmcp.runtime.crypto import CryptoConfig, SecretBox
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.health import HealthConfig, HealthServer, NatsReadiness
from stackmcp.runtime.natsx import Endpoint, connect, drain
from stackmcp.runtime.redisx import connect_redis
from stackmcp.runtime.status import serve_status

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
            stack.push_async_callback(drain, nc)
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
        keys = RedisKeys(redis_config.key_prefix)
        worker_id = secrets.token_hex(8)
        claims = WriteClaims(redis, keys, worker_id)
        resumes = ResumeScheduler(redis, keys)
        executor = Executor(catalog, accounts, upstream, signer, claims, resumes=resumes)
        verifier = AccountVerifier(box, upstream)
        subjects = Subjects(nats_config.subject_prefix)
        await forget_on_account_events(nc, subjects.account_events, accounts)
        await serve_status(nc, subjects, NAME, ready=readiness, instance_id=worker_id, stop=stop)
        queue = subjects.worker_queue_group
        tool_calls = Endpoint(
            nc,
            subjects.tool_call,
            queue,
            ToolCallRequest,
            executor.call,
            max_concurrency=worker.max_concurrency,
            direct=subjects.worker_tool_call(worker_id),
            beacon=_beacon_of,
        )
        endpoints: list[Endpoint[Any]] = [
            Endpoint(nc, subjects.catalog_get, queue, CatalogRequest, executor.catalog),
            Endpoint(nc, subjects.account_verify, queue, AccountVerifyRequest, verifier.verify),
            tool_calls,
        ]
        for endpoint in endpoints:
            await endpoint.start()
        presence = asyncio.create_task(
            _announce(
                nc,
                subjects.worker_presence,
                worker_id,
                worker,
                tool_calls=tool_calls,
                stop=stop,
            )
        )
        readiness.serving(nc)
        logger.info(
            "%s ready: %d tools, catalogue %s, worker id %s",
            NAME,
            len(catalog.tools),
            catalog.version[:12],
            worker_id,
        )
        await stop.wait()
        logger.info("%s draining", NAME)
        await presence
        await asyncio.gather(*(e.drain(nats_config.drain_timeout) for e in endpoints))
    logger.info("%s stopped", NAME)


async def _announce(
    nc: Client,
    subject: str,
    worker_id: str,
    config: WorkerConfig,
    *,
    tool_calls: Endpoint[ToolCallRequest],
    stop: asyncio.Event,
) -> None:
    """Publish presence every ``presence_interval`` until ``stop``, then a leaving notice."""
    while not stop.is_set():
        presence = WorkerPresence(
            worker_id=worker_id,
            interval=config.presence_interval,
            in_flight=tool_calls.in_flight,
        )
        with contextlib.suppress(nats.errors.Error):
            await nc.publish(subject, msgspec.json.encode(presence))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), config.presence_interval)
    leaving = WorkerPresence(worker_id=worker_id, interval=config.presence_interval, leaving=True)
    with contextlib.suppress(nats.errors.Error, TimeoutError):
        await nc.publish(subject, msgspec.json.encode(leaving))
        await nc.flush(timeout=1)


def _beacon_of(call: ToolCallRequest) -> float:
    """The progress-beacon interval a gateway asked for (see ``Endpoint``)."""
    return call.beacon
