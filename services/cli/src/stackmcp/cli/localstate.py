"""What ``stackmcp up`` keeps in its data directory between runs, in owner-only files.

A local install has no secret store, so the admin token, the credential encryption key and the
demo server's URL live next to the data they protect (``0600`` files in a ``0700`` directory),
like a kubeconfig. Anything set in the environment wins over the files.

The admin commands (``stackmcp servers list``...) read the admin token and the admin API's URL
from the same directory (:func:`local_admin`) when nothing else names them, so they work next
to a running ``stackmcp up`` with no variable set.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackmcp.cli.config import DataConfig
from stackmcp.contracts.tokens import ADMIN_TOKEN_PREFIX, new_token
from stackmcp.runtime.admin import AdminConfig, admin_token
from stackmcp.runtime.config import load_section
from stackmcp.runtime.crypto import new_key

__all__ = ["LocalAdmin", "LocalState", "local_admin", "write_private"]

ADMIN_TOKEN_FILE = "admin_token"  # noqa: S105 - a file name
ADMIN_URL_FILE = "admin_url"


class LocalState:
    """Files of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            data_dir.chmod(0o700)

    @property
    def logs(self) -> Path:
        """Directory of the components' log files."""
        return self.data_dir / "logs"

    def admin_token(self) -> str:
        """``STACKMCP_ADMIN_TOKEN`` (or ``_FILE``), else the stored one, else a new one (stored).

        Raises:
            ConfigError: ``STACKMCP_ADMIN_TOKEN_FILE`` is set but unreadable or empty.
        """
        return admin_token(load_section(AdminConfig, "ADMIN")) or self._secret(
            ADMIN_TOKEN_FILE, lambda: new_token(ADMIN_TOKEN_PREFIX)
        )

    def save_admin_url(self, url: str) -> None:
        """Remember where this run's admin API listens (for the admin commands)."""
        self._write(ADMIN_URL_FILE, url + "\n")

    def crypto_key(self) -> str:
        """``STACKMCP_CRYPTO_KEY``, else the stored key, else a new one (stored)."""
        return os.environ.get("STACKMCP_CRYPTO_KEY") or self._secret("crypto.key", new_key)

    def demo(self) -> dict[str, Any] | None:
        """The demo account and server created on the first start, if any."""
        path = self.data_dir / "demo.json"
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def save_demo(self, demo: dict[str, Any]) -> None:
        """Remember the demo account and server (the file holds the server URL: owner-only)."""
        self._write("demo.json", json.dumps(demo, indent=2) + "\n")

    def _secret(self, name: str, make: Callable[[], str]) -> str:
        path = self.data_dir / name
        with contextlib.suppress(OSError):
            text = path.read_text(encoding="utf-8").strip()
            if text:
                return text
        value = make()
        self._write(name, value + "\n")
        return value

    def _write(self, name: str, text: str) -> None:
        write_private(self.data_dir / name, text)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    path.chmod(0o600)


@dataclass(frozen=True)
class LocalAdmin:
    """The admin token and URL a local ``stackmcp up`` left in its data directory."""

    data_dir: Path
    token: str | None
    """The stored admin token; ``None`` when there is none."""
    url: str | None
    """The admin API's URL of the last run; ``None`` when unknown."""


def local_admin(environ: Mapping[str, str] | None = None) -> LocalAdmin:
    """Read (never create) the admin token and URL in the data directory.

    The directory is ``STACKMCP_DATA_DIR`` (default ``.stackmcp`` in the current directory),
    as for ``stackmcp up``.

    Raises:
        ConfigError: ``STACKMCP_DATA_DIR`` is malformed.
    """
    data_dir = Path(load_section(DataConfig, "DATA", environ).dir).resolve()
    return LocalAdmin(
        data_dir, _read_line(data_dir / ADMIN_TOKEN_FILE), _read_line(data_dir / ADMIN_URL_FILE)
    )


def _read_line(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None
