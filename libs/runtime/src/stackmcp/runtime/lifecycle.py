"""Process lifecycle: SIGTERM/SIGINT become a stop event; ``main`` runs ``run(stop)``."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

import uvloop

from stackmcp.runtime.config import ConfigError

__all__ = ["install_stop_signals", "run_until_stopped"]


def install_stop_signals(loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Event:
    """Return an event set on the first SIGTERM or SIGINT (a second one exits at once)."""
    loop = loop or asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            sys.exit(128 + signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    return stop


def run_until_stopped(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``run(stop)`` on a fresh uvloop event loop; signals set ``stop`` for a graceful drain.

    A :class:`ConfigError` raised while starting is printed as one line and exits with 2.
    """

    async def main() -> None:
        await run(install_stop_signals())

    try:
        # uvloop: the loop's own work (scheduling, socket writes, thread wake-ups from
        # Granian) was a third of a service's CPU per call on the stdlib loop.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def service_main(name: str, run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """The whole ``main()`` of a service: logging, tracing, metrics (and the audit trail as
    OpenTelemetry logs when ``OTEL_LOGS_EXPORTER`` asks), run until signalled, flush what is
    batched.

    Args:
        name: service name for logs and the OpenTelemetry resource.
        run: the service body; must return promptly (after draining) once ``stop`` is set.
    """
    from stackmcp.runtime.auditlogs import install_audit_logs  # noqa: PLC0415
    from stackmcp.runtime.config import LogConfig, load_section  # noqa: PLC0415
    from stackmcp.runtime.logging import configure_logging  # noqa: PLC0415
    from stackmcp.runtime.metrics import setup_metrics  # noqa: PLC0415
    from stackmcp.runtime.telemetry import setup_tracing  # noqa: PLC0415

    try:
        configure_logging(load_section(LogConfig, "LOG"), name)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    provider = setup_tracing(name)
    meters = setup_metrics(name)
    audit_logs = install_audit_logs(name)
    try:
        run_until_stopped(run)
    finally:
        provider.shutdown()
        meters.shutdown()
        if audit_logs is not None:
            audit_logs.shutdown()
