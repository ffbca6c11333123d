"""The running product for end-to-end MCP tests: two gateway replicas and a worker, as real
processes on real NATS and Valkey, against the real sandbox.

Session-scoped (processes take a second or two to start). Everything the stack owns lives under
its own subject and key prefix, in its own Valkey server (``redis_url`` flushes the shared one
before every test that uses it), so tests that flush or use other prefixes never disturb it.
Tests mint grants with :mod:`tests.support.grants` under :attr:`McpStack.keys`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.embedded import NatsServer, ValkeyServer, free_port
from stackmcp.runtime.crypto import CryptoConfig, SecretBox, new_key
from tests.support.sandbox import RunningSandbox
from tests.support.streams import LineReader, terminate
from tests.support.worker import store_account


@dataclass
class McpStack:
    """Where the stack listens and what it is configured with."""

    gateways: list[str]
    """Base URLs of the gateway replicas, e.g. ``http://127.0.0.1:40123``."""
    nats_url: str
    redis_url: str
    prefix: str
    account_id: str
    sandbox: RunningSandbox
    env: dict[str, str]
    logs: list[Path] = field(default_factory=list)
    worker_pid: int = 0
    """Process id of the worker (tests may pause it with SIGSTOP, then SIGCONT)."""

    @property
    def keys(self) -> RedisKeys:
        """Redis key names of this stack."""
        return RedisKeys(self.prefix)

    @property
    def subjects(self) -> Subjects:
        """NATS subjects of this stack."""
        return Subjects(self.prefix)

    def url(self, token: str, replica: int = 0) -> str:
        """The MCP URL of a server token on one replica."""
        return f"{self.gateways[replica]}/mcp/{token}"

    def redis(self) -> aioredis.Redis:
        """A new async Redis client (close it with ``aclose``)."""
        return aioredis.Redis.from_url(self.redis_url)


def spawn_service(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    """Start ``python -m module`` with ``env``, its output going to ``log``."""
    with log.open("w") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )


def wait_ready(url: str, proc: subprocess.Popen[str], log: Path, timeout: float = 120) -> None:
    """Poll ``<url>/readyz`` until 200; fail with the log's tail if the process dies or stalls
    (the deadline is generous: several services importing at once on a loaded 2-core machine
    took over 30 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{log.name} exited early: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} not ready within {timeout}s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def stack_valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyServer]:
    """The stack's own ``valkey-server``: the shared one is flushed by the ``redis_url`` fixture,
    which would wipe the stack's account and sessions mid-session."""
    server = ValkeyServer(tmp_path_factory.mktemp("mcp-stack-valkey"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mcp_stack(
    nats_server: NatsServer,
    stack_valkey: ValkeyServer,
    running_sandbox: RunningSandbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[McpStack]:
    """A worker and two gateway replicas sharing one sandbox account."""
    prefix = f"e2e{secrets.token_hex(3)}"
    crypto_key = new_key()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    env = {
        **clean,
        "STACKMCP_NATS_URL": nats_server.url,
        "STACKMCP_NATS_SUBJECT_PREFIX": prefix,
        "STACKMCP_REDIS_URL": stack_valkey.url,
        "STACKMCP_REDIS_KEY_PREFIX": prefix,
        "STACKMCP_CRYPTO_KEY": crypto_key,
        "STACKMCP_LOG_FORMAT": "json",
        "STACKMCP_GATEWAY_CALL_TIMEOUT": "5",
        "STACKMCP_GATEWAY_CATALOG_REFRESH": "2",
        # Tests share one account; the limiter has tests of its own.
        "STACKMCP_GATEWAY_ACCOUNT_RATE_LIMIT": "0",
        # JetStream reserves a stream's max bytes; tests make many audit streams on one server.
        "STACKMCP_AUDIT_MAX_BYTES": str(16 * 1024 * 1024),
    }
    logs_dir = tmp_path_factory.mktemp("mcp-stack")
    account = asyncio.run(_store_account(stack_valkey.url, crypto_key, prefix, running_sandbox))
    processes: list[subprocess.Popen[str]] = []
    logs: list[Path] = []
    try:
        worker_log = logs_dir / "worker.log"
        processes.append(spawn_service("stackmcp.betterstack_worker", env, worker_log))
        logs.append(worker_log)
        gateways = []
        for replica in range(2):
            port = free_port()
            log = logs_dir / f"gateway-{replica}.log"
            gateway_env = {**env, "STACKMCP_GATEWAY_PORT": str(port)}
            proc = spawn_service("stackmcp.gateway", gateway_env, log)
            processes.append(proc)
            logs.append(log)
            gateways.append((f"http://127.0.0.1:{port}", proc, log))
        for url, proc, log in gateways:
            wait_ready(url, proc, log)
        yield McpStack(
            gateways=[url for url, _, _ in gateways],
            nats_url=nats_server.url,
            redis_url=stack_valkey.url,
            prefix=prefix,
            account_id=account,
            sandbox=running_sandbox,
            env=env,
            logs=logs,
            worker_pid=processes[0].pid,
        )
    finally:
        for proc in reversed(processes):
            terminate(proc)


async def _store_account(
    redis_url: str, crypto_key: str, prefix: str, sandbox: RunningSandbox
) -> str:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        record = await store_account(
            redis,
            SecretBox(CryptoConfig(key=crypto_key)),
            base_url=sandbox.base_url,
            token=sandbox.token,
            keys=RedisKeys(prefix),
        )
    finally:
        await redis.aclose()
    return record.id


__all__ = ["LineReader", "McpStack", "mcp_stack", "spawn_service", "stack_valkey", "wait_ready"]
