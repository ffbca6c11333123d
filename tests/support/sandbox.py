"""A real Better Stack sandbox process for tests outside ``tests/sandbox`` (worker, e2e)."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from stackmcp.embedded import ManagedProcess, free_port

SANDBOX_TOKEN = "support-sandbox-token"


@dataclass(frozen=True)
class RunningSandbox:
    """Where a sandbox listens and how to reach its admin API."""

    base_url: str
    token: str

    def admin(self, method: str, path: str, json: object | None = None) -> httpx.Response:
        """Call ``/_sandbox/<path>`` (knobs, reset) with the sandbox token."""
        return httpx.request(
            method,
            f"{self.base_url}/_sandbox/{path}",
            json=json,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 - loopback URL
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def running_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """``python -m stackmcp.sandbox`` on a free loopback port, shared by the session."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKMCP_")}
    env.update({"STACKMCP_SANDBOX_PORT": str(port), "STACKMCP_SANDBOX_TOKEN": SANDBOX_TOKEN})
    process = ManagedProcess(
        [sys.executable, "-m", "stackmcp.sandbox"],
        name="sandbox",
        env=env,
        log_file=tmp_path_factory.mktemp("support-sandbox") / "sandbox.log",
    ).start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        process.wait_ready(lambda: _healthy(f"{base_url}/_sandbox/healthz"), timeout=20)
        yield RunningSandbox(base_url=base_url, token=SANDBOX_TOKEN)
    finally:
        process.stop()


@pytest.fixture
def sandbox_api(running_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    """The shared sandbox, reset to its seed data and default knobs around each test."""
    _reset(running_sandbox)
    yield running_sandbox
    _reset(running_sandbox)


def reset_sandbox(sandbox: RunningSandbox) -> None:
    """Put the sandbox back to its seed data and default knobs."""
    _reset(sandbox)


def _reset(sandbox: RunningSandbox) -> None:
    knobs = {"rate_limit": 0, "latency_ms": 0, "error_rate": 0, "rate_limit_headers": False}
    assert sandbox.admin("PATCH", "knobs", knobs).status_code == 200
    assert sandbox.admin("POST", "reset").status_code in (200, 204)
