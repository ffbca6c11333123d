"""Tests for stackmcp.embedded.process: readiness, stop escalation, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stackmcp.embedded import ManagedProcess, ProcessStartError
from tests.support import pid_alive, wait_pid_gone

IGNORES_SIGTERM = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("grandchild", child.pid, flush=True)
time.sleep(60)
"""

ORPHAN_SCRIPT = """
import sys
from pathlib import Path
from stackmcp.embedded import NatsServer
server = NatsServer(Path(sys.argv[1])).start()
print(server.pid, flush=True)
sys.stdin.read()
"""


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_child_that_dies_at_start_raises_an_error_naming_it_with_its_log_tail(
    tmp_path: Path,
) -> None:
    """A child exiting during the readiness wait fails fast with its name and last log lines."""
    code = "import sys; print('config is broken: bad-option'); sys.exit(3)"
    child = ManagedProcess(_python(code), name="broken-svc", log_file=tmp_path / "svc.log")
    child.start()
    with pytest.raises(ProcessStartError) as excinfo:
        child.wait_ready(lambda: False, timeout=10)
    assert excinfo.value.returncode == 3
    assert "broken-svc" in str(excinfo.value)
    assert "config is broken: bad-option" in str(excinfo.value)


def test_readiness_wait_is_bounded_for_a_child_that_never_gets_ready(tmp_path: Path) -> None:
    """A running child that never passes its probe gives a timeout error, then stops cleanly."""
    p = ManagedProcess(_python("import time; time.sleep(60)"), log_file=tmp_path / "x.log")
    with p, pytest.raises(ProcessStartError, match=r"did not become ready within 0\.2s"):
        p.wait_ready(lambda: False, timeout=0.2)
    assert p.returncode == -signal.SIGTERM


def test_child_output_goes_to_the_log_file_not_the_parent_stdout(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Child stdout and stderr land in the log file only."""
    code = "import sys; print('to-out'); print('to-err', file=sys.stderr)"
    child = ManagedProcess(_python(code), log_file=tmp_path / "c.log").start()
    assert child.wait(10) == 0
    log = (tmp_path / "c.log").read_text()
    assert "to-out" in log
    assert "to-err" in log
    captured = capfd.readouterr()
    assert "to-out" not in captured.out + captured.err


def test_stop_kills_a_child_ignoring_sigterm_and_its_process_group(tmp_path: Path) -> None:
    """stop() escalates to SIGKILL after its timeout and leaves no grandchild behind."""
    child = ManagedProcess(_python(IGNORES_SIGTERM), log_file=tmp_path / "stubborn.log").start()
    child.wait_ready(lambda: "grandchild" in child.log_text(), timeout=10)
    grandchild = int(child.log_text().split()[-1])
    assert child.stop(timeout=0.3) == -signal.SIGKILL
    assert not child.is_running
    assert wait_pid_gone(grandchild, timeout=5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_sigkilled_supervisor_leaves_no_orphan_nats_server(tmp_path: Path) -> None:
    """When the supervising Python process is SIGKILLed, its nats-server dies too."""
    with subprocess.Popen(
        [*_python(ORPHAN_SCRIPT), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as supervisor:
        assert supervisor.stdout is not None
        line = supervisor.stdout.readline()
        assert line.strip().isdigit(), f"supervisor failed to start nats-server: {line!r}"
        nats_pid = int(line)
        assert pid_alive(nats_pid)
        supervisor.kill()
        supervisor.wait(5)
    try:
        assert wait_pid_gone(nats_pid, timeout=10), "nats-server outlived its supervisor"
    finally:
        if pid_alive(nats_pid):
            os.kill(nats_pid, signal.SIGKILL)
