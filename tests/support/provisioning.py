"""Provisioning and expiry as real processes on the MCP stack.

The ``provisioning`` fixture adds a ``stackmcp.provisioning`` process to :func:`mcp_stack`
(same NATS, Valkey, prefixes and crypto key, so the stack's worker and gateways serve what it
mints), with a known admin token, and connects one sandbox account through the real API.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from stackmcp.embedded import free_port
from tests.support.stack import McpStack, spawn_service, wait_ready
from tests.support.streams import terminate


async def refused_within(url: str, seconds: float) -> float:
    """Poll ``url`` with an MCP ``initialize`` until it answers 404; return how long it took."""
    started = time.monotonic()
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            answer = await client.post(url, json=body, headers=headers)
            if answer.status_code == 404:
                return time.monotonic() - started
            assert time.monotonic() - started < seconds, f"still {answer.status_code}"
            await asyncio.sleep(0.05)


@dataclass
class Provisioning:
    """A running provisioning service on the MCP stack."""

    url: str
    """Base URL of the admin API."""
    admin_token: str
    account_id: str
    """An account connected to the sandbox through the API."""
    stack: McpStack
    env: dict[str, str]
    """Environment of the service (and what a CLI process needs: STACKMCP_ADMIN_*)."""
    logs: list[Path] = field(default_factory=list)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client for the admin API, authenticated as admin."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=15, **kwargs)


def start_provisioning(
    stack: McpStack, log_dir: Path, processes: list[subprocess.Popen[str]], **extra: str
) -> tuple[str, str, dict[str, str]]:
    """Start one provisioning process on ``stack``; returns ``(url, admin_token, env)``."""
    admin_token = f"smcp_adm_{secrets.token_urlsafe(32)}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **stack.env,
        "STACKMCP_PROVISIONING_PORT": str(port),
        "STACKMCP_PROVISIONING_MCP_BASE_URL": stack.gateways[0],
        "STACKMCP_ADMIN_TOKEN": admin_token,
        "STACKMCP_ADMIN_URL": url,
        **extra,
    }
    log = log_dir / f"provisioning-{port}.log"
    proc = spawn_service("stackmcp.provisioning", env, log)
    processes.append(proc)
    stack.logs.append(log)
    wait_ready(url, proc, log)
    return url, admin_token, env


def connect_sandbox_account(url: str, admin_token: str, stack: McpStack) -> str:
    """Connect the stack's sandbox through the admin API; returns the account id."""
    with httpx.Client(base_url=url, timeout=15) as client:
        answer = client.post(
            "/integrated-account",
            headers={"Authorization": f"Bearer {admin_token}"},
            json={
                "integration": "betterstack",
                "name": "Sandbox",
                "betterstack_token": stack.sandbox.token,
                "base_url": stack.sandbox.base_url,
            },
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


@contextmanager
def running_provisioning(stack: McpStack, log_dir: Path, **extra: str) -> Iterator[Provisioning]:
    """A provisioning process on ``stack`` with a sandbox account connected through its API."""
    processes: list[subprocess.Popen[str]] = []
    try:
        url, admin_token, env = start_provisioning(stack, log_dir, processes, **extra)
        yield Provisioning(
            url=url,
            admin_token=admin_token,
            account_id=connect_sandbox_account(url, admin_token, stack),
            stack=stack,
            env=env,
            logs=list(stack.logs),
        )
    finally:
        for process in processes:
            terminate(process)


@pytest.fixture(scope="session")
def provisioning(
    mcp_stack: McpStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provisioning]:
    """Provisioning on the stack (default settings), a sandbox account connected through it."""
    with running_provisioning(mcp_stack, tmp_path_factory.mktemp("provisioning")) as running:
        yield running


@dataclass
class ExpiryReplicas:
    """Expiry processes on the MCP stack, which tests may stop and start again."""

    stack: McpStack
    log_dir: Path
    count: int = 2
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self) -> None:
        """Start the replicas and wait until each logs that it is ready."""
        env = {**self.stack.env, "STACKMCP_EXPIRY_MAX_SLEEP": "0.2"}
        logs = []
        for _ in range(self.count):
            log = self.log_dir / f"expiry-{secrets.token_hex(3)}.log"
            self.processes.append(spawn_service("stackmcp.expiry", env, log))
            self.stack.logs.append(log)
            logs.append(log)
        deadline = time.monotonic() + 30
        for log in logs:
            while "stackmcp-expiry ready" not in log.read_text():
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop every replica (SIGTERM, then wait)."""
        for proc in self.processes:
            terminate(proc)
        self.processes.clear()


@pytest.fixture(scope="session")
def expiry_replicas(
    mcp_stack: McpStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ExpiryReplicas]:
    """Two expiry replicas on the stack."""
    replicas = ExpiryReplicas(mcp_stack, tmp_path_factory.mktemp("expiry"))
    replicas.start()
    try:
        yield replicas
    finally:
        replicas.stop()


@pytest.fixture(scope="session")
def fast_provisioning(
    mcp_stack: McpStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provisioning]:
    """A second provisioning process allowing expiries 1 s ahead, for expiry tests."""
    log_dir = tmp_path_factory.mktemp("fast-provisioning")
    with running_provisioning(mcp_stack, log_dir, STACKMCP_PROVISIONING_MIN_EXPIRY="1") as running:
        yield running


__all__ = [
    "ExpiryReplicas",
    "Provisioning",
    "expiry_replicas",
    "fast_provisioning",
    "provisioning",
    "refused_within",
]
