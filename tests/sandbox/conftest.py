"""A real sandbox process on 127.0.0.1, shared by the sandbox tests, plus per-test clients."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stackmcp.embedded import free_port

TOKEN = "test-sandbox-token"
EXTRA_TOKEN = "second-test-token"
READ_ONLY_TOKEN = "read-only-test-token"
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class Sandbox:
    """Where the sandbox under test listens."""

    base_url: str
    token: str
    log: Path


def sandbox_env(**settings: str) -> dict[str, str]:
    """The current environment without ``STACKMCP_SANDBOX_*`` plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKMCP_SANDBOX_")}
    env.update({f"STACKMCP_SANDBOX_{k.upper()}": v for k, v in settings.items()})
    return env


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``/_sandbox/healthz`` until it answers (bounded by ``START_TIMEOUT``)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"sandbox exited early ({process.returncode}): {log.read_text()}")
        try:
            if httpx.get(f"{base_url}/_sandbox/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"sandbox did not become healthy within {START_TIMEOUT}s: {log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it does not exit within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """``python -m stackmcp.sandbox`` on a free port, with two accepted tokens and a
    read-only one."""
    port = free_port()
    log = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    env = sandbox_env(
        port=str(port), token=TOKEN, extra_tokens=EXTRA_TOKEN, read_only_tokens=READ_ONLY_TOKEN
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "stackmcp.sandbox"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(base_url, process, log)
        yield Sandbox(base_url=base_url, token=TOKEN, log=log)
    finally:
        stop(process)


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """An authenticated client on freshly reset data with all knobs off."""
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    with httpx.Client(base_url=sandbox.base_url, headers=headers, timeout=10) as http:
        off = {"rate_limit": 0, "latency_ms": 0, "error_rate": 0, "rate_limit_headers": False}
        assert http.patch("/_sandbox/knobs", json=off).status_code == 200
        assert http.post("/_sandbox/reset").status_code == 200
        try:
            yield http
        finally:
            http.patch("/_sandbox/knobs", json=off)


@pytest.fixture
def anonymous(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A client that sends no token."""
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as http:
        yield http
