"""The gateway process: wiring, the embedded Granian server, graceful drain.

``run`` connects NATS and Redis, subscribes to the lifecycle events that invalidate cached
grants and sessions, keeps the tool catalogue fresh, and serves the Litestar app on Granian
inside this event loop. On stop it stops taking connections, lets requests in flight finish,
then drains NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from redis.asyncio import Redis

from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.gateway import metrics
from stackmcp.gateway.app import create_app
from stackmcp.gateway.audit import AuditTrail
from stackmcp.gateway.budgets import Budgets
from stackmcp.gateway.catalog import ToolCatalog
from stackmcp.gateway.config import GatewayConfig
from stackmcp.gateway.confirm import ConfirmTokens, Elicitations
from stackmcp.gateway.core import McpCore
from stackmcp.gateway.grants import GrantResolver
from stackmcp.gateway.http import McpTransport
from stackmcp.gateway.mcp import McpMethods
from stackmcp.gateway.metrics import ToolCallCounter
from stackmcp.gateway.oauth.clients import ClientRegistry, RedirectPolicy
from stackmcp.gateway.oauth.flow import AuthorizationServer
from stackmcp.gateway.oauth.guard import SecondFactor
from stackmcp.gateway.oauth.routes import OAuthRoutes
from stackmcp.gateway.oauth.store import OAuthStore
from stackmcp.gateway.publisher import AuditPublisher
from stackmcp.gateway.ratelimit import RedisRateLimiter
from stackmcp.gateway.sessions import SessionStore
from stackmcp.gateway.usage import UsageCounter
from stackmcp.gateway.workers import WorkerCaller, WorkerPool
from stackmcp.runtime.auditlogs import emit_audit_log
from stackmcp.runtime.config import AuditConfig, NatsConfig, RedisConfig, load_section
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.events import ensure_audit_stream
from stackmcp.runtime.natsx import connect, drain
from stackmcp.runtime.redisx import connect_redis
from stackmcp.runtime.serving import redis_reachable, serve_until_stopped
from stackmcp.runtime.status import serve_status

__all__ = ["run"]

logger = logging.getLogger(__name__)
NAME = "stackmcp-gateway"


async def run(stop: asyncio.Event) -> None:  # noqa: PLR0915 (all the wiring in one place)
    """Serve MCP until ``stop`` is set, then drain."""
    config = load_section(GatewayConfig, "GATEWAY")
    nats_config = load_section(NatsConfig, "NATS")
    redis_config = load_section(RedisConfig, "REDIS")
    audit_config = load_section(AuditConfig, "AUDIT")
    async with contextlib.AsyncExitStack() as stack:
        caches: list[Callable[[], None]] = []

        async def reconnected() -> None:
            for clear in caches:
                clear()

        try:
            nc = await connect(nats_config, NAME, stop=stop, on_reconnect=reconnected)
            stack.push_async_callback(drain, nc)
            redis = await connect_redis(redis_config, stop=stop)
            stack.push_async_callback(redis.aclose)
        except Unavailable:
            logger.info("%s stopped before its servers were reachable", NAME)
            return
        subjects = Subjects(nats_config.subject_prefix)
        keys = RedisKeys(redis_config.key_prefix)
        grants = GrantResolver(
            redis, keys, cache_ttl=config.cache_ttl, max_entries=config.cache_max_entries
        )
        await grants.subscribe(nc, subjects)
        sessions = SessionStore(
            redis,
            keys,
            nc,
            subjects.gateway_session_closed,
            ttl=config.session_ttl,
            max_per_server=config.max_sessions_per_server,
            max_local=config.cache_max_entries,
        )
        await sessions.start()
        oauth_store = OAuthStore(redis, keys)
        second_factor = SecondFactor(
            grants, oauth_store, cache_ttl=config.cache_ttl, max_entries=config.cache_max_entries
        )
        caches += [grants.clear, sessions.forget_all, second_factor.clear]
        catalog = ToolCatalog(
            nc, subjects, page_size=config.tools_page_size, timeout=nats_config.request_timeout
        )
        refresher = asyncio.create_task(catalog.keep_fresh(config.catalog_refresh, stop))
        await serve_status(nc, subjects, NAME, ready=_ready_check(nc, redis, catalog), stop=stop)
        pool = WorkerPool()
        await pool.subscribe(nc, subjects)
        caller = WorkerCaller(nc, subjects, pool, redis, keys, silence=config.worker_silence)
        await caller.start()
        limiter = RedisRateLimiter(
            redis,
            keys,
            per_server=config.server_rate_limit,
            per_account=config.account_rate_limit,
            window=config.rate_limit_window,
        )
        counting = asyncio.create_task(limiter.run(stop))
        try:
            await ensure_audit_stream(
                nc.jetstream(), subjects, audit_config, replicas=nats_config.stream_replicas
            )
        except Unavailable as exc:
            logger.warning("audit stream not ensured (records are kept and retried): %s", exc)
        publisher = AuditPublisher(nc, subjects, buffer=audit_config.buffer)
        publisher.start()
        usage = UsageCounter(redis, keys)
        usage_counting = asyncio.create_task(usage.run(stop))
        elicitations = Elicitations(nc, subjects)
        metrics.observe(sessions=sessions.live_counts, audit=publisher.counters)
        methods = McpMethods(
            catalog,
            caller,
            call_timeout=config.call_timeout,
            limiter=limiter if limiter.enabled else None,
            audit=AuditTrail(
                [publisher.offer, usage.count, emit_audit_log, ToolCallCounter(catalog.exists)]
            ),
            budgets=Budgets(redis, keys),
            tokens=ConfirmTokens(redis, keys, ttl=config.confirm_timeout),
            elicitations=elicitations,
            confirm_timeout=config.confirm_timeout,
        )
        transport = McpTransport(
            core=McpCore(methods, sessions, elicitations),
            grants=grants,
            nc=nc,
            subjects=subjects,
            allowed_origins=config.allowed_origins,
            keepalive=config.sse_keepalive,
            public_url=config.public_url,
            body_timeout=config.body_timeout,
            max_sse_streams=config.max_sse_streams_per_server,
            second_factor=second_factor,
        )
        transport.core.streams.follow(grants)  # open streams hear of list changes
        oauth = OAuthRoutes(
            _authorization_server(config, oauth_store, grants, catalog), config.public_url
        )
        app = create_app(
            transport,
            _ready_check(nc, redis, catalog),
            max_body_bytes=config.max_body_bytes,
            audit_counters=publisher.counters,
            oauth=oauth,
        )
        await serve_until_stopped(
            app,
            name=NAME,
            host=config.host,
            port=config.port,
            stop=stop,
            drain_timeout=nats_config.drain_timeout,
            max_connections=config.max_connections,
        )
        await refresher
        await counting
        await usage_counting
        await usage.flush()  # what the requests drained after the stop added
        await publisher.close(nats_config.drain_timeout)
    logger.info("%s stopped", NAME)


def _authorization_server(
    config: GatewayConfig, store: OAuthStore, grants: GrantResolver, catalog: ToolCatalog
) -> AuthorizationServer:
    clients = ClientRegistry(
        store,
        RedirectPolicy(config.oauth_redirect_uris),
        allow_loopback=config.oauth_allow_loopback_clients,
    )
    return AuthorizationServer(
        store,
        clients,
        grants,
        catalog,
        access_ttl=config.oauth_access_token_ttl,
        refresh_ttl=config.oauth_refresh_token_ttl,
    )


def _ready_check(
    nc: Client, redis: Redis, catalog: ToolCatalog
) -> Callable[[], Awaitable[dict[str, bool]]]:
    async def check() -> dict[str, bool]:
        redis_ok = await redis_reachable(redis)
        return {"nats": nc.is_connected, "redis": redis_ok, "catalog": catalog.loaded}

    return check
