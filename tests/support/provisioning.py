"""Provisioning (and, once there, expiry) as real processes on the MCP stack.

The ``provisioning`` fixture adds a ``stackmcp.provisioning`` process to :func:`mcp_stack`
(same NATS, Valkey, prefixes and crypto key, so the stack's worker and gateways serve what it
mints), with a known admin token, and connects one sandbox account through the real API.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from stackmcp.embedded import free_port
from tests.support.stack import McpStack, spawn_service, wait_ready
from tests.support.streams import terminate


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


@pytest.fixture(scope="session")
def provisioning(mcp_stack: McpStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provisioning]:
    """Provisioning on the stack, with a sandbox account connected through its API."""
    admin_token = f"smcp_adm_{secrets.token_urlsafe(32)}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **mcp_stack.env,
        "STACKMCP_PROVISIONING_PORT": str(port),
        "STACKMCP_PROVISIONING_MCP_BASE_URL": mcp_stack.gateways[0],
        "STACKMCP_ADMIN_TOKEN": admin_token,
        "STACKMCP_ADMIN_URL": url,
    }
    log = tmp_path_factory.mktemp("provisioning") / "provisioning.log"
    proc = spawn_service("stackmcp.provisioning", env, log)
    processes: list[subprocess.Popen[str]] = [proc]
    try:
        wait_ready(url, proc, log)
        mcp_stack.logs.append(log)
        with httpx.Client(base_url=url, timeout=15) as client:
            answer = client.post(
                "/integrated-account",
                headers={"Authorization": f"Bearer {admin_token}"},
                json={
                    "integration": "betterstack",
                    "name": "Sandbox",
                    "betterstack_token": mcp_stack.sandbox.token,
                    "base_url": mcp_stack.sandbox.base_url,
                },
            )
        assert answer.status_code == 201, answer.text
        yield Provisioning(
            url=url,
            admin_token=admin_token,
            account_id=answer.json()["id"],
            stack=mcp_stack,
            env=env,
            logs=[log],
        )
    finally:
        for process in processes:
            terminate(process)


__all__ = ["Provisioning", "provisioning"]
