"""Entry point of stackmcp-betterstack-worker: ``stackmcp-betterstack-worker`` or ``python -m
stackmcp.betterstack_worker``.
"""

from __future__ import annotations

from stackmcp.betterstack_worker.service import run
from stackmcp.runtime.lifecycle import service_main

__all__ = ["main"]


def main() -> None:
    """Run the service until SIGTERM/SIGINT, then drain and exit."""
    service_main("stackmcp-betterstack-worker", run)


if __name__ == "__main__":
    main()
