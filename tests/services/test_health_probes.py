"""Worker and expiry answer Kubernetes probes on ``STACKMCP_HEALTH_PORT``, following NATS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from stackmcp.embedded import NatsServer, free_port
from stackmcp.runtime.crypto import new_key
from tests.support.streams import terminate

pytestmark = pytest.mark.integration

SERVICES = ["stackmcp.betterstack_worker", "stackmcp.expiry"]


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.TransportError:
        return None


def _wait_status(
    url: str, expected: int | None, proc: subprocess.Popen[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while (status := _status(url)) != expected:
        assert proc.poll() is None or expected is None, f"exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{url}: {status}, wanted {expected}"
        time.sleep(0.1)


@pytest.mark.parametrize("module", SERVICES)
def test_readiness_follows_the_nats_connection_and_the_drain(
    module: str, tmp_path: Path, redis_url: str
) -> None:
    nats = NatsServer(tmp_path / "nats", port=free_port()).start()
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    env = {
        **clean,
        "STACKMCP_NATS_URL": nats.url,
        "STACKMCP_REDIS_URL": redis_url,
        "STACKMCP_CRYPTO_KEY": new_key(),
        "STACKMCP_HEALTH_HOST": "127.0.0.1",
        "STACKMCP_HEALTH_PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", module],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_status(f"{base}/readyz", 200, proc, timeout=20)
        nats.stop()
        _wait_status(f"{base}/readyz", 503, proc, timeout=10)
        assert _status(f"{base}/healthz") == 200  # alive: no restart just for a NATS outage
        nats.start()
        _wait_status(f"{base}/readyz", 200, proc, timeout=15)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert _status(f"{base}/healthz") is None
    finally:
        terminate(proc)
        nats.stop()
