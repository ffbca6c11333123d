"""Every service entry point: starts against real NATS/Valkey, drains on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping

import pytest

from stackmcp.runtime.crypto import new_key
from tests.support.streams import LineReader, terminate

pytestmark = pytest.mark.integration

SERVICES = [
    ("stackmcp.gateway", "stackmcp-gateway"),
    ("stackmcp.betterstack_worker", "stackmcp-betterstack-worker"),
    ("stackmcp.provisioning", "stackmcp-provisioning"),
    ("stackmcp.expiry", "stackmcp-expiry"),
]


def _spawn(module: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    return subprocess.Popen(
        [sys.executable, "-m", module],
        env={**clean, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(("module", "name"), SERVICES)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_service_connects_then_drains_on_signal(
    module: str, name: str, signum: signal.Signals, nats_url: str, redis_url: str
) -> None:
    """The service reports ready, and on the signal drains and exits with status 0."""
    proc = _spawn(
        module,
        {
            "STACKMCP_NATS_URL": nats_url,
            "STACKMCP_REDIS_URL": redis_url,
            "STACKMCP_LOG_FORMAT": "json",
            "STACKMCP_CRYPTO_KEY": new_key(),
        },
    )
    log = LineReader(proc.stderr)  # type: ignore[arg-type]
    try:
        ready = log.wait_for(f"{name} ready", timeout=20)
        assert '"level":"INFO"' in ready
        assert f'"service":"{name}"' in ready
        proc.send_signal(signum)
        assert proc.wait(15) == 0
        assert f"{name} stopped" in log.drain()
    finally:
        terminate(proc)


@pytest.mark.parametrize(("module", "name"), SERVICES)
def test_bad_config_exits_2_naming_the_variable(module: str, name: str) -> None:
    """A malformed variable stops start-up with one line that names it, and exit status 2."""
    proc = _spawn(module, {"STACKMCP_NATS_REQUEST_TIMEOUT": "soon"})
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        terminate(proc)
    assert proc.returncode == 2
    assert err.strip() == (
        "configuration error: STACKMCP_NATS_REQUEST_TIMEOUT='soon' is not valid: expected a number"
    )


def test_service_waits_for_nats_and_stops_cleanly_when_asked(redis_url: str) -> None:
    """With NATS unreachable the service keeps trying, and a SIGTERM still ends it with 0."""
    proc = _spawn(
        "stackmcp.expiry",
        {"STACKMCP_NATS_URL": "nats://127.0.0.1:1", "STACKMCP_REDIS_URL": redis_url},
    )
    log = LineReader(proc.stderr)  # type: ignore[arg-type]
    try:
        log.wait_for("nats error", timeout=20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        terminate(proc)
