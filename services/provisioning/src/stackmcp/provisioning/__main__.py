"""Entry point of stackmcp-provisioning: ``stackmcp-provisioning`` or ``python -m
stackmcp.provisioning``.
"""

from __future__ import annotations

from stackmcp.provisioning.service import run
from stackmcp.runtime.lifecycle import service_main

__all__ = ["main"]


def main() -> None:
    """Run the service until SIGTERM/SIGINT, then drain and exit."""
    service_main("stackmcp-provisioning", run)


if __name__ == "__main__":
    main()
