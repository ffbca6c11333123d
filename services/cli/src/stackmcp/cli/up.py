"""``stackmcp up``: run the whole system on this machine until Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import TextIO

from stackmcp.cli.config import LocalConfig
from stackmcp.cli.supervisor import Supervisor, http_ok, python_service
from stackmcp.embedded import EmbeddedError, EmbeddedInfra, free_port
from stackmcp.runtime.config import load_section
from stackmcp.sandbox.config import SandboxConfig

__all__ = ["run_up"]


def run_up(out: TextIO = sys.stdout) -> int:
    """Start everything, print where it runs, wait for a stop signal, stop everything.

    Returns:
        The process exit code: 0 after a requested stop, 1 when a component failed.
    """
    local = load_section(LocalConfig, "LOCAL")
    sandbox = load_section(SandboxConfig, "SANDBOX")
    stop = _stop_on_signals()
    data_dir = Path(local.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    out.write(f"stackmcp: starting (data in {data_dir})\n")
    out.flush()
    try:
        infra = EmbeddedInfra.start(
            data_dir,
            nats_url=os.environ.get("STACKMCP_NATS_URL"),
            redis_url=os.environ.get("STACKMCP_REDIS_URL"),
            nats_port=local.nats_port,
            redis_port=local.redis_port,
            timeout=local.start_timeout,
        )
    except EmbeddedError as exc:
        out.write(f"stackmcp: could not start: {exc}\n")
        return 1
    supervisor = Supervisor(infra)
    try:
        _start_services(supervisor, local, sandbox, data_dir)
    except EmbeddedError as exc:
        out.write(f"stackmcp: could not start: {exc}\n")
        supervisor.stop()
        return 1
    _print_summary(out, supervisor, data_dir, sandbox)
    failed = supervisor.wait(stop)
    if failed:
        out.write(f"stackmcp: {failed} exited unexpectedly; see {data_dir / 'logs'}\n")
    out.write("stackmcp: stopping\n")
    out.flush()
    supervisor.stop()
    out.write("stackmcp: stopped\n")
    return 1 if failed else 0


def _start_services(
    supervisor: Supervisor, local: LocalConfig, sandbox: SandboxConfig, data_dir: Path
) -> None:
    logs = data_dir / "logs"
    shared_env = {
        "STACKMCP_NATS_URL": supervisor.infra.nats_url,
        "STACKMCP_REDIS_URL": supervisor.infra.redis_url,
    }
    if local.sandbox:
        port = sandbox.port or free_port(sandbox.host)
        process = python_service(
            "stackmcp.sandbox",
            name="sandbox",
            env={**shared_env, "STACKMCP_SANDBOX_PORT": str(port)},
            log_dir=logs,
        )
        base = f"http://{sandbox.host}:{port}"
        supervisor.start_service(
            process,
            address=base,
            note="Better Stack API emulator",
            ready=http_ok(f"{base}/_sandbox/healthz"),
            timeout=local.start_timeout,
        )


def _print_summary(
    out: TextIO, supervisor: Supervisor, data_dir: Path, sandbox: SandboxConfig
) -> None:
    out.write("stackmcp is up:\n")
    for c in supervisor.components:
        pid = f"pid {c.pid}" if c.pid else ""
        out.write(f"  {c.name:<10} {c.address:<28} {pid:<11} {c.note}\n")
    if any(c.name == "sandbox" for c in supervisor.components):
        out.write(
            f"  sandbox API token: {sandbox.token} (Authorization: Bearer <token>; "
            "demo data only)\n"
        )
    out.write(f"  logs in {data_dir / 'logs'}\n")
    out.write("Press Ctrl-C to stop.\n")
    out.flush()


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop
