"""The provisioning process: wiring, the embedded Granian server, graceful drain.

``run`` connects NATS (JetStream) and Redis, makes sure the events and audit streams exist, sets
up the admin token, and serves the admin API. Changes are stored in Redis, then announced on
JetStream and recorded in the audit trail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from redis.asyncio import Redis

from stackmcp.contracts.accounts import AccountRecord, AccountVerifyRequest, AccountVerifyResponse
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.provisioning.accountops import AccountOps
from stackmcp.provisioning.api import create_app
from stackmcp.provisioning.auditlog import AuditLog
from stackmcp.provisioning.auth import AdminAuth, setup_admin_token
from stackmcp.provisioning.catalog import CatalogSource
from stackmcp.provisioning.config import ProvisioningConfig
from stackmcp.provisioning.console import ConsoleSessions, ConsoleState
from stackmcp.provisioning.events import EventPublisher
from stackmcp.provisioning.httpmetrics import instrument_http
from stackmcp.provisioning.provisioner import Provisioner, Verifier
from stackmcp.provisioning.status import StatusReader
from stackmcp.provisioning.store import Store
from stackmcp.runtime.admin import AdminConfig, admin_token
from stackmcp.runtime.config import AuditConfig, NatsConfig, RedisConfig, load_section
from stackmcp.runtime.crypto import CryptoConfig, SecretBox
from stackmcp.runtime.errors import DeadlineExceeded, Unavailable
from stackmcp.runtime.events import ensure_audit_stream, ensure_events_stream
from stackmcp.runtime.natsx import connect, drain, request
from stackmcp.runtime.redisx import connect_redis
from stackmcp.runtime.serving import redis_reachable, serve_until_stopped
from stackmcp.runtime.status import serve_status

__all__ = ["run"]

logger = logging.getLogger(__name__)
NAME = "stackmcp-provisioning"


async def run(stop: asyncio.Event) -> None:
    """Serve the admin API until ``stop`` is set, then drain."""
    config = load_section(ProvisioningConfig, "PROVISIONING")
    nats_config = load_section(NatsConfig, "NATS")
    redis_config = load_section(RedisConfig, "REDIS")
    audit_config = load_section(AuditConfig, "AUDIT")
    box = SecretBox(load_section(CryptoConfig, "CRYPTO"))
    configured_token = admin_token(load_section(AdminConfig, "ADMIN"))
    async with contextlib.AsyncExitStack() as stack:
        try:
            nc = await connect(nats_config, NAME, stop=stop)
            stack.push_async_callback(drain, nc)
            redis = await connect_redis(redis_config, stop=stop)
            stack.push_async_callback(redis.aclose)
        except Unavailable:
            logger.info("%s stopped before its servers were reachable", NAME)
            return
        subjects = Subjects(nats_config.subject_prefix)
        js = nc.jetstream()
        await ensure_events_stream(js, subjects, replicas=nats_config.stream_replicas)
        await ensure_audit_stream(js, subjects, audit_config, replicas=nats_config.stream_replicas)
        keys = RedisKeys(redis_config.key_prefix)
        store = Store(redis, keys, redis_config)
        token_hash, generated = await setup_admin_token(store, configured_token)
        if generated is not None:
            _print_once(generated)
        catalog = CatalogSource(
            nc, subjects, timeout=config.catalog_timeout or nats_config.request_timeout
        )
        provisioner = Provisioner(
            store=store,
            events=EventPublisher(js),
            subjects=subjects,
            catalog=catalog,
            box=box,
            verify=_verifier(nc, subjects, config.verify_timeout or nats_config.request_timeout),
            min_expiry=config.min_expiry,
            history_days=audit_config.history_days,
        )
        auth = AdminAuth(token_hash, store)
        app = create_app(
            provisioner,
            auth,
            _ready_check(nc, redis),
            mcp_base_url=config.mcp_base_url,
            max_body_bytes=config.max_body_bytes,
            body_timeout=config.body_timeout,
            console=_console(
                config, provisioner=provisioner, auth=auth, redis=redis, keys=keys, box=box
            ),
        )
        app.state.audit_log = AuditLog(js, subjects)
        app.state.account_ops = AccountOps(
            store=store,
            events=EventPublisher(js),
            subjects=subjects,
            box=box,
            verify=_verifier(nc, subjects, config.verify_timeout or nats_config.request_timeout),
            redis=redis,
            keys=keys,
        )
        app.state.status = StatusReader(
            nc, subjects, app.state.audit_log, _schedule_size(redis, keys)
        )
        await serve_status(nc, subjects, NAME, ready=_ready_check(nc, redis), stop=stop)
        await serve_until_stopped(
            instrument_http(app),
            name=NAME,
            host=config.host,
            port=config.port,
            stop=stop,
            drain_timeout=nats_config.drain_timeout,
        )
    logger.info("%s stopped", NAME)


def _console(
    config: ProvisioningConfig,
    *,
    provisioner: Provisioner,
    auth: AdminAuth,
    redis: Redis,
    keys: RedisKeys,
    box: SecretBox,
) -> ConsoleState | None:
    if not config.console:
        return None
    sessions = ConsoleSessions(
        redis, keys, box, admin_token_hash=auth.token_hash, ttl=config.console_session_ttl
    )
    return ConsoleState(
        provisioner=provisioner,
        sessions=sessions,
        auth=auth,
        mcp_base_url=config.mcp_base_url.rstrip("/"),
        secure_cookies=config.console_secure_cookies,
    )


NO_WORKER = "no betterstack-worker answered in time"
"""The start of a verify failure whose cause is ours, not Better Stack's."""


def _verifier(nc: Client, subjects: Subjects, timeout: float) -> Verifier:
    """Verify through a worker. Its answers say what happened and pass as they are: "Better
    Stack refused the token" (422, on ``betterstack_token``), "Better Stack unreachable at
    <url>: <reason>" (502); only when no worker answers is it :data:`NO_WORKER`."""

    async def verify(account: AccountRecord) -> None:
        try:
            await request(
                nc,
                subjects.account_verify,
                AccountVerifyRequest(account=account),
                AccountVerifyResponse,
                timeout=timeout,
            )
        except Unavailable:
            raise Unavailable(
                f"could not verify the token: {NO_WORKER} (none is running or connected to "
                "NATS); start one and retry, or create the account without verify"
            ) from None
        except DeadlineExceeded:
            raise DeadlineExceeded(
                f"could not verify the token: {NO_WORKER} (within {timeout:g}s; Better Stack "
                f"at {account.base_url} may be answering slowly); retry, or create the account "
                "without verify"
            ) from None

    return verify


def _print_once(token: str) -> None:
    # Deliberately not logged: logs are shipped and kept; this line is shown once on the console.
    sys.stdout.write(
        f"stackmcp-provisioning: generated the admin token (shown only now, store it):\n  {token}\n"
    )
    sys.stdout.flush()
    logger.info("admin token generated and shown once on standard output")


def _schedule_size(redis: Redis, keys: RedisKeys) -> Callable[[], Awaitable[int]]:
    async def size() -> int:
        return int(await redis.zcard(keys.expiry_schedule))

    return size


def _ready_check(nc: Client, redis: Redis) -> Callable[[], Awaitable[dict[str, bool]]]:
    async def check() -> dict[str, bool]:
        return {"nats": nc.is_connected, "redis": await redis_reachable(redis)}

    return check
