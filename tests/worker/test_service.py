"""The real ``stackmcp-betterstack-worker`` process: wiring from env, serving, draining."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from nats.aio.client import Client

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
from stackmcp.runtime.natsx import connect, request
from tests.support.sandbox import RunningSandbox
from tests.support.streams import LineReader, terminate
from tests.support.worker import store_account

pytestmark = pytest.mark.integration

NAME = "stackmcp-betterstack-worker"


@pytest.fixture
def crypto_key() -> str:
    """A fresh credential key shared by the test (writer) and the worker (reader)."""
    return new_key()


@pytest.fixture
def prefix() -> str:
    """A subject and key prefix of this test's own."""
    return f"w{secrets.token_hex(4)}"


@pytest.fixture
def worker_process(
    nats_url: str, redis_url: str, crypto_key: str, prefix: str
) -> Iterator[tuple[subprocess.Popen[str], LineReader]]:
    """``python -m stackmcp.betterstack_worker`` configured only through env, until ready."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    env = {
        **clean,
        "STACKMCP_NATS_URL": nats_url,
        "STACKMCP_NATS_SUBJECT_PREFIX": prefix,
        "STACKMCP_REDIS_URL": redis_url,
        "STACKMCP_REDIS_KEY_PREFIX": prefix,
        "STACKMCP_CRYPTO_KEY": crypto_key,
        "STACKMCP_LOG_FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "stackmcp.betterstack_worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = LineReader(proc.stderr)  # type: ignore[arg-type]
    try:
        log.wait_for(f"{NAME} ready", timeout=20)
        yield proc, log
    finally:
        terminate(proc)


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    """A NATS client playing the gateway."""
    client = await connect(NatsConfig(url=nats_url), "test-gateway")
    yield client
    await client.drain()


async def test_worker_process_serves_and_drains_in_flight_calls(
    worker_process: tuple[subprocess.Popen[str], LineReader],
    nc: Client,
    redis_url: str,
    crypto_key: str,
    prefix: str,
    sandbox_api: RunningSandbox,
) -> None:
    """Catalogue and a tool call are served; a call in flight at SIGTERM is still answered."""
    proc, log = worker_process
    subjects = Subjects(prefix)
    redis = aioredis.Redis.from_url(redis_url)
    account = await store_account(
        redis,
        SecretBox(CryptoConfig(key=crypto_key)),
        base_url=sandbox_api.base_url,
        token=sandbox_api.token,
        keys=RedisKeys(prefix),
    )
    await redis.aclose()
    catalog = await request(nc, subjects.catalog_get, CatalogRequest(), CatalogResponse, timeout=5)
    assert len(catalog.tools) > 100
    call = ToolCallRequest(
        server_id="srv_test",
        account_id=account.id,
        tool="get_single_better_stack_incident_by_id",
        arguments={"incident_id": "7"},
        methods=("read",),
        timeout=8,
    )
    served = await request(nc, subjects.tool_call, call, ToolCallResult, timeout=10)
    assert served.structured_value()["result"]["name"] == "Checkout API is down"

    assert sandbox_api.admin("PATCH", "knobs", {"latency_ms": 1500}).status_code == 200
    in_flight = asyncio.create_task(
        request(nc, subjects.tool_call, call, ToolCallResult, timeout=10)
    )
    await asyncio.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    answered = await in_flight
    assert not answered.is_error, answered.text
    assert await asyncio.to_thread(proc.wait, 15) == 0
    tail = log.drain()
    assert f"{NAME} stopped" in tail
    assert sandbox_api.token not in tail


def test_worker_without_credential_key_refuses_to_start(nats_url: str, redis_url: str) -> None:
    """The worker cannot read credentials without the key: exit 2 naming the variable."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stackmcp.betterstack_worker"],
        env={**clean, "STACKMCP_NATS_URL": nats_url, "STACKMCP_REDIS_URL": redis_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        terminate(proc)
    assert proc.returncode == 2
    assert "STACKMCP_CRYPTO_KEY is required" in err
