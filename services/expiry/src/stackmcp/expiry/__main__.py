"""Entry point of stackmcp-expiry: ``stackmcp-expiry`` or ``python -m stackmcp.expiry``."""

from __future__ import annotations

from stackmcp.expiry.service import run
from stackmcp.runtime.lifecycle import service_main

__all__ = ["main"]


def main() -> None:
    """Run the service until SIGTERM/SIGINT, then drain and exit."""
    service_main("stackmcp-expiry", run)


if __name__ == "__main__":
    main()
