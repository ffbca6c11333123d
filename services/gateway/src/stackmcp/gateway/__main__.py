"""Entry point of stackmcp-gateway: ``stackmcp-gateway`` or ``python -m stackmcp.gateway``."""

from __future__ import annotations

from stackmcp.gateway.service import run
from stackmcp.runtime.lifecycle import service_main

__all__ = ["main"]


def main() -> None:
    """Run the service until SIGTERM/SIGINT, then drain and exit."""
    service_main("stackmcp-gateway", run)


if __name__ == "__main__":
    main()
