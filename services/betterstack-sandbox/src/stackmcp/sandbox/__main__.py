"""``stackmcp-sandbox`` / ``python -m stackmcp.sandbox``: serve the sandbox with Granian."""

from __future__ import annotations

import os
import socket
import sys

from granian.constants import Interfaces
from granian.server import Server

from stackmcp.runtime.config import ConfigError, LogConfig, load_section
from stackmcp.sandbox.config import SandboxConfig

__all__ = ["free_port", "main"]


def free_port(host: str) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def main() -> None:
    """Serve until SIGTERM/SIGINT; a bad ``STACKMCP_SANDBOX_*``/``_LOG_*`` value exits 2."""
    try:
        config = load_section(SandboxConfig, "SANDBOX")
        load_section(LogConfig, "LOG")
    except ConfigError as exc:
        print(f"stackmcp-sandbox: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    port = config.port or free_port(config.host)
    # The worker process rebuilds the config from the environment; pin the chosen port there.
    os.environ["STACKMCP_SANDBOX_PORT"] = str(port)
    print(f"stackmcp-sandbox listening on http://{config.host}:{port}", flush=True)
    server = Server(
        "stackmcp.sandbox.app:app_from_env",
        address=config.host,
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        factory=True,
        log_access=False,
    )
    server.serve()


if __name__ == "__main__":
    main()
