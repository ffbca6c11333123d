"""The ``stackmcp`` command.

``up`` runs the system, ``catalog`` prints the tool catalogue, ``accounts``, ``servers``,
``tokens`` and ``admin-tokens`` manage it through the provisioning admin API, ``log`` reads
its audit trail and ``status`` says what runs; those admin commands exit with 0 on success, 1
when the API refused the request, 2 on a usage or configuration error, 3 when the admin token
was refused, 4 when something was not found, 5 when provisioning is unreachable or unavailable
(see :mod:`stackmcp.cli.admin`), and ``status`` with 6 when a service is missing or not ready.
"""

from __future__ import annotations

import argparse
import logging
import sys

from stackmcp.cli import accounts, catalog, log, servers, status, tokens
from stackmcp.cli.admin import EXIT_CODES, run_admin
from stackmcp.cli.up import run_up
from stackmcp.runtime.config import ConfigError, LogConfig, load_section
from stackmcp.runtime.logging import configure_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackmcp",
        description="Scoped MCP servers for Better Stack. Settings come from STACKMCP_* variables.",
        epilog="accounts, servers, tokens, admin-tokens, log and status "
        + EXIT_CODES
        + "  6  (status) a service is missing or a replica is not ready\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "up",
        help="run the whole system on this machine (embedded NATS and Valkey, the services)",
        description="Start embedded NATS and Valkey (unless STACKMCP_NATS_URL / "
        "STACKMCP_REDIS_URL are set), the Better Stack sandbox and the services; "
        "stop everything on Ctrl-C or SIGTERM.",
    )
    catalog.add_parser(commands)
    accounts.add_parser(commands)
    servers.add_parser(commands)
    tokens.add_parser(commands)
    tokens.add_parser(commands, tokens.ADMIN_TOKENS)
    log.add_parser(commands)
    status.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen subcommand; exits with its status."""
    args = _parser().parse_args(argv)
    if args.command == "catalog":
        sys.exit(catalog.run_catalog(args))
    if getattr(args, "admin_action", None) is not None:
        sys.exit(run_admin(args))
    try:
        configure_logging(load_section(LogConfig, "LOG"), "stackmcp")
        logging.getLogger("stackmcp.embedded").setLevel(logging.WARNING)
        if args.command == "up":
            sys.exit(run_up())
    except ConfigError as exc:
        print(f"stackmcp: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
