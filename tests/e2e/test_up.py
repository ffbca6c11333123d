"""``stackmcp up``: the README's run command, started for real and stopped with signals."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import nats
import pytest
import redis

from stackmcp.embedded import free_port
from tests.support.processes import wait_pid_gone
from tests.support.streams import LineReader, terminate

pytestmark = pytest.mark.e2e

STACKMCP = Path(sys.executable).with_name("stackmcp")


def _up(
    data_dir: Path, ports: dict[str, int], **extra: str
) -> tuple[subprocess.Popen[str], LineReader]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    env = {
        **clean,
        "STACKMCP_DATA_DIR": str(data_dir),
        "STACKMCP_GATEWAY_PORT": str(ports.get("gateway") or free_port()),
        "STACKMCP_PROVISIONING_PORT": str(ports.get("provisioning") or free_port()),
        "STACKMCP_LOCAL_NATS_PORT": str(ports["nats"]),
        "STACKMCP_LOCAL_REDIS_PORT": str(ports["redis"]),
        "STACKMCP_SANDBOX_PORT": str(ports["sandbox"]),
        "STACKMCP_SANDBOX_TOKEN": "e2e-sandbox-token",
        **extra,
    }
    proc = subprocess.Popen(
        [str(STACKMCP), "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return proc, LineReader(proc.stdout)  # type: ignore[arg-type]


def _pids(output: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\S+)\s+\S+\s+pid (\d+)", output, re.M)}


async def _nats_round_trip(url: str) -> bytes:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="E2E", subjects=["e2e.>"])
        ack = await js.publish("e2e.hello", b"persisted")
        return (await js.get_msg("E2E", ack.seq)).data or b""
    finally:
        await nc.drain()


def test_up_runs_everything_prints_where_and_stops_on_sigterm(tmp_path: Path) -> None:
    """All components answer on the printed addresses; SIGTERM stops every process; data stays."""
    ports = {name: free_port() for name in ("nats", "redis", "sandbox")}
    proc, out = _up(tmp_path / "data", ports)
    try:
        out.wait_for("Press Ctrl-C to stop.", timeout=60)
        printed = out.text()
        assert f"nats://127.0.0.1:{ports['nats']}" in printed
        assert f"redis://127.0.0.1:{ports['redis']}/0" in printed
        assert f"http://127.0.0.1:{ports['sandbox']}" in printed
        assert "sandbox API token: e2e-sandbox-token" in printed
        pids = _pids(printed)
        assert set(pids) == {
            "nats",
            "valkey",
            "sandbox",
            "worker",
            "gateway",
            "provisioning",
            "expiry",
        }

        assert asyncio.run(_nats_round_trip(f"nats://127.0.0.1:{ports['nats']}")) == b"persisted"
        with redis.Redis(port=ports["redis"]) as client:
            client.set("e2e:key", "kept")
        answer = httpx.get(
            f"http://127.0.0.1:{ports['sandbox']}/api/v3/incidents",
            headers={"Authorization": "Bearer e2e-sandbox-token"},
        )
        assert answer.status_code == 200
        assert answer.json()["data"]

        # The admin commands find the admin token and URL in the data directory by themselves.
        account = re.search(r"account (acc_\w+)", printed)
        assert account is not None
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
        listed = subprocess.run(
            [str(STACKMCP), "accounts", "list", "--json"],
            env={**clean, "STACKMCP_DATA_DIR": str(tmp_path / "data")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        assert account[1] in listed.stdout

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "stackmcp: stopped" in out.drain()
        for name, pid in pids.items():
            assert wait_pid_gone(pid, timeout=5), f"{name} (pid {pid}) outlived stackmcp up"
    finally:
        terminate(proc)

    proc, out = _up(tmp_path / "data", ports, STACKMCP_LOCAL_SANDBOX="false")
    try:
        out.wait_for("Press Ctrl-C to stop.", timeout=60)
        with redis.Redis(port=ports["redis"]) as client:
            assert client.get("e2e:key") == b"kept"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        terminate(proc)


def test_up_uses_external_servers_when_urls_are_given(
    tmp_path: Path, nats_url: str, redis_url: str
) -> None:
    """With STACKMCP_NATS_URL / STACKMCP_REDIS_URL set, nothing embedded is started."""
    ports = {name: free_port() for name in ("nats", "redis", "sandbox")}
    proc, out = _up(
        tmp_path,
        ports,
        STACKMCP_NATS_URL=nats_url,
        STACKMCP_REDIS_URL=redis_url,
        STACKMCP_LOCAL_SANDBOX="false",
    )
    try:
        out.wait_for("Press Ctrl-C to stop.", timeout=60)
        printed = out.text()
        assert f"{nats_url}" in printed
        assert "external" in printed
        assert "embedded" not in printed
        assert not (tmp_path / "nats").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        terminate(proc)


def test_up_reports_a_busy_port_and_leaves_nothing_running(tmp_path: Path) -> None:
    """A port already taken is a clear start-up error with exit status 1, not a hang."""
    ports = {name: free_port() for name in ("nats", "redis", "sandbox")}
    holder, holder_out = _up(tmp_path / "first", ports, STACKMCP_LOCAL_SANDBOX="false")
    try:
        holder_out.wait_for("Press Ctrl-C to stop.", timeout=60)
        proc, out = _up(tmp_path / "second", ports, STACKMCP_LOCAL_SANDBOX="false")
        try:
            assert proc.wait(60) == 1
            assert "could not start" in out.drain()
        finally:
            terminate(proc)
    finally:
        terminate(holder)


def test_bad_setting_is_named_and_exits_2(tmp_path: Path) -> None:
    """A malformed STACKMCP_* variable is reported by name before anything starts."""
    ports = {name: free_port() for name in ("nats", "redis", "sandbox")}
    proc, out = _up(tmp_path, ports, STACKMCP_LOCAL_NATS_PORT="four")
    try:
        assert proc.wait(30) == 2
        assert "STACKMCP_LOCAL_NATS_PORT='four' is not valid: expected an integer" in out.drain()
    finally:
        terminate(proc)


def _port_free(port: int) -> bool:
    """Whether something could listen on ``port`` now (TIME_WAIT leftovers do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _children_of(pid: int) -> set[int]:
    """Live direct children of ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.add(int(stat.parent.name))
    return found


def _assert_all_gone(pids: dict[str, int], ports: dict[str, int]) -> None:
    for name, pid in pids.items():
        assert wait_pid_gone(pid, timeout=10), f"{name} (pid {pid}) outlived stackmcp up"
    for name, port in ports.items():
        assert _wait(lambda port=port: _port_free(port), 10), f"{name}'s port {port} still taken"


def _up_and_ready(
    data_dir: Path,
) -> tuple[subprocess.Popen[str], LineReader, dict[str, int], dict[str, int]]:
    ports = {name: free_port() for name in ("nats", "redis", "sandbox", "gateway", "provisioning")}
    proc, out = _up(data_dir, ports)
    out.wait_for("Press Ctrl-C to stop.", timeout=90)
    pids = _pids(out.text())
    assert len(pids) == 7
    return proc, out, pids, ports


@pytest.mark.parametrize(
    ("signum", "count"),
    [(signal.SIGTERM, 2), (signal.SIGINT, 6)],
    ids=["sigterm-twice", "sigint-burst"],
)
def test_up_stops_cleanly_on_repeated_signals(tmp_path: Path, signum: int, count: int) -> None:
    """A repeated SIGTERM (``uv`` forwards one too) or a burst of Ctrl-C never hangs the stop:
    ``stackmcp up`` exits 0 and every service is gone with its port free."""
    proc, out, pids, ports = _up_and_ready(tmp_path / "data")
    try:
        for _ in range(count):
            proc.send_signal(signum)
        assert proc.wait(60) == 0
        assert "stackmcp: stopped" in out.drain()
        _assert_all_gone(pids, ports)
    finally:
        terminate(proc)


def test_up_stops_cleanly_when_signalled_while_starting(tmp_path: Path) -> None:
    """SIGTERM twice while the services are still starting: start-up ends, everything stops."""
    ports = {name: free_port() for name in ("nats", "redis", "sandbox", "gateway", "provisioning")}
    data_dir = tmp_path / "data"
    proc, out = _up(data_dir, ports)
    try:
        assert _wait((data_dir / "logs" / "worker.log").exists, 90)
        children = _children_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        assert "stackmcp: stopped" in out.drain()
        _assert_all_gone({f"child {pid}": pid for pid in children}, ports)
    finally:
        terminate(proc)
