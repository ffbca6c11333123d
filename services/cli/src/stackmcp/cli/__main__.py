"""The ``stackmcp`` command."""

from __future__ import annotations

import argparse
import logging
import sys

from stackmcp.cli import catalog
from stackmcp.cli.up import run_up
from stackmcp.runtime.config import ConfigError, LogConfig, load_section
from stackmcp.runtime.logging import configure_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackmcp",
        description="Scoped MCP servers for Better Stack. Settings come from STACKMCP_* variables.",
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
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen subcommand; exits with its status."""
    args = _parser().parse_args(argv)
    if args.command == "catalog":
        sys.exit(catalog.run_catalog(args))
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
