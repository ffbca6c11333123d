"""The ``python -m stackmcp.sandbox`` entry point: bad config, port 0 and SIGTERM."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.sandbox.conftest import START_TIMEOUT, sandbox_env, stop, wait_healthy


def test_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    """An invalid variable is reported in one stderr line naming it; exit status 2."""
    result = subprocess.run(
        [sys.executable, "-m", "stackmcp.sandbox"],
        env=sandbox_env(port="eighty"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "STACKMCP_SANDBOX_PORT" in lines[0]


def _announced_url(log: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        match = re.search(r"listening on (http://\S+)", log.read_text())
        if match:
            return match.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no listening line: {log.read_text()}")


def test_port_zero_picks_a_free_port_and_sigterm_stops(tmp_path: Path) -> None:
    """With port 0 the server announces the port it chose, serves, and exits on SIGTERM."""
    log = tmp_path / "sandbox.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "stackmcp.sandbox"],
            env=sandbox_env(port="0", token="t0", seed="false"),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        url = _announced_url(log, process)
        assert not url.endswith(":0")
        wait_healthy(url, process, log)
        answer = httpx.get(f"{url}/api/v2/monitors", headers={"Authorization": "Bearer t0"})
        assert answer.json()["data"] == []
        process.terminate()
        assert process.wait(timeout=10) is not None
    finally:
        stop(process)
