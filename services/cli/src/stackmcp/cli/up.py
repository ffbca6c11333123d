"""``stackmcp up``: run the whole system on this machine until Ctrl-C or SIGTERM.

Starts embedded NATS (JetStream) and Valkey (append-only file) unless URLs are given, the
Better Stack sandbox (unless a real Better Stack token is configured), then the worker, the
gateway, provisioning and expiry; creates a demo account and MCP server on the first start;
prints where everything is and how to connect Claude; stops everything in reverse order.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from stackmcp.cli.config import BetterStackConfig, DataConfig, LocalConfig, UpConfig
from stackmcp.cli.demo import DemoError, DemoTarget, ensure_demo
from stackmcp.cli.localstate import LocalState, write_private
from stackmcp.cli.stopping import StopRequested, StopRequests
from stackmcp.cli.supervisor import Supervisor, http_ok, log_says, python_service
from stackmcp.embedded import EmbeddedError, EmbeddedInfra, free_port
from stackmcp.gateway.config import GatewayConfig
from stackmcp.provisioning.clientconfig import guidance_lines
from stackmcp.provisioning.config import ProvisioningConfig
from stackmcp.runtime.config import load_section
from stackmcp.sandbox.config import SandboxConfig

__all__ = ["run_up"]


@dataclass
class Plan:
    """Settings of one run, read from the environment before anything starts."""

    local: LocalConfig
    state: LocalState
    up: UpConfig
    betterstack: BetterStackConfig
    sandbox: SandboxConfig
    gateway: GatewayConfig
    provisioning: ProvisioningConfig
    urls: dict[str, str] = field(default_factory=dict)
    """Base URLs of the HTTP components, filled in as they start."""

    @property
    def use_sandbox(self) -> bool:
        """Whether the sandbox stands in for Better Stack."""
        return self.local.sandbox and not self.betterstack.token


def run_up(out: TextIO = sys.stdout) -> int:
    """Start everything, print where it runs, wait for a stop signal, stop everything.

    SIGINT and SIGTERM only set a flag (see :mod:`stackmcp.cli.stopping`): the first stops
    everything cleanly, also during start-up; a repeated one changes nothing (``uv`` forwards
    SIGTERM too); from the third on, what is still running is killed.

    Returns:
        The process exit code: 0 after a requested stop, 1 when a component failed.
    """
    plan = Plan(
        local=load_section(LocalConfig, "LOCAL"),
        state=LocalState(Path(load_section(DataConfig, "DATA").dir).resolve()),
        up=load_section(UpConfig, "UP"),
        betterstack=load_section(BetterStackConfig, "BETTERSTACK"),
        sandbox=load_section(SandboxConfig, "SANDBOX"),
        gateway=load_section(GatewayConfig, "GATEWAY"),
        provisioning=load_section(ProvisioningConfig, "PROVISIONING"),
    )
    stop = StopRequests()
    stop.install()
    _say(out, f"stackmcp: starting (data in {plan.state.data_dir})")
    try:
        infra = EmbeddedInfra.start(
            plan.state.data_dir,
            nats_url=os.environ.get("STACKMCP_NATS_URL"),
            redis_url=os.environ.get("STACKMCP_REDIS_URL"),
            nats_port=plan.local.nats_port,
            redis_port=plan.local.redis_port,
            timeout=plan.local.start_timeout,
        )
    except EmbeddedError as exc:
        _say(out, f"stackmcp: could not start: {exc}")
        return 1
    supervisor = Supervisor(infra)
    try:
        stop.check()
        demo = _start(supervisor, plan, stop)
    except StopRequested:
        _say(out, "stackmcp: stopping before everything started")
        return _stop(out, supervisor, stop, failed=None)
    except (EmbeddedError, DemoError) as exc:
        _say(out, f"stackmcp: could not start: {exc}")
        supervisor.stop(stop)
        return 1
    facts = _facts(plan, demo)
    _print_summary(out, supervisor, plan, demo, facts)
    if plan.up.info:
        write_private(Path(plan.up.info), json.dumps(facts, indent=2) + "\n")
    failed = supervisor.wait(stop)
    if failed:
        _say(out, f"stackmcp: {failed} exited unexpectedly; see {plan.state.logs}")
    _say(out, "stackmcp: stopping")
    return _stop(out, supervisor, stop, failed=failed)


def _start(supervisor: Supervisor, plan: Plan, stop: StopRequests) -> dict[str, Any]:
    """Start the services and make sure the demo exists; return the demo's facts.

    Raises:
        StopRequested: a stop signal arrived meanwhile.
        EmbeddedError: a service did not start.
        DemoError: the demo could not be created.
    """
    _start_services(supervisor, plan, stop)
    plan.state.save_admin_url(plan.urls["provisioning"])
    target = _demo_target(plan)
    if target is None:
        return {"note": "none: set STACKMCP_BETTERSTACK_TOKEN or leave the sandbox on"}
    demo = ensure_demo(
        plan.state, plan.urls["provisioning"], plan.state.admin_token(), target, _mcp_base(plan)
    )
    stop.check()
    return demo


def _stop(out: TextIO, supervisor: Supervisor, stop: StopRequests, *, failed: str | None) -> int:
    if supervisor.stop(stop):
        _say(out, "stackmcp: stopped (what was still running was killed after repeated signals)")
    else:
        _say(out, "stackmcp: stopped")
    return 1 if failed else 0


@dataclass(frozen=True)
class Child:
    """One service process to start, and how to tell it is ready."""

    module: str
    name: str
    note: str
    address: str
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)


def _start_services(supervisor: Supervisor, plan: Plan, stop: StopRequests) -> None:
    shared = {
        "STACKMCP_NATS_URL": supervisor.infra.nats_url,
        "STACKMCP_REDIS_URL": supervisor.infra.redis_url,
        "STACKMCP_CRYPTO_KEY": plan.state.crypto_key(),
    }
    for child in _children(plan):
        process = python_service(
            child.module, name=child.name, env={**shared, **child.env}, log_dir=plan.state.logs
        )
        supervisor.start_service(
            process,
            address=child.address,
            note=child.note,
            ready=_unless_stopped(child.ready, stop),
            timeout=plan.local.start_timeout,
        )


def _unless_stopped(probe: Callable[[], bool], stop: StopRequests) -> Callable[[], bool]:
    """``probe``, raising :class:`StopRequested` instead once a stop signal arrived."""

    def check() -> bool:
        stop.check()
        return probe()

    return check


def _children(plan: Plan) -> Iterator[Child]:
    """The services in start order (each is ready before the next starts)."""
    logs = plan.state.logs
    if plan.use_sandbox:
        port = plan.sandbox.port or free_port(plan.sandbox.host)
        base = plan.urls["sandbox"] = f"http://{plan.sandbox.host}:{port}"
        yield Child(
            "stackmcp.sandbox",
            "sandbox",
            "Better Stack API emulator",
            base,
            http_ok(f"{base}/_sandbox/healthz"),
            {"STACKMCP_SANDBOX_PORT": str(port)},
        )
    yield Child(
        "stackmcp.betterstack_worker",
        "worker",
        "runs tools against Better Stack",
        "NATS",
        log_says(logs / "worker.log", "stackmcp-betterstack-worker ready"),
    )
    port = plan.gateway.port or free_port(plan.gateway.host)
    base = plan.urls["gateway"] = f"http://{_connectable(plan.gateway.host)}:{port}"
    yield Child(
        "stackmcp.gateway",
        "gateway",
        "MCP endpoint for Claude",
        base,
        http_ok(f"{base}/readyz"),
        {"STACKMCP_GATEWAY_PORT": str(port)},
    )
    port = plan.provisioning.port or free_port(plan.provisioning.host)
    base = plan.urls["provisioning"] = f"http://{_connectable(plan.provisioning.host)}:{port}"
    env = {
        "STACKMCP_PROVISIONING_PORT": str(port),
        "STACKMCP_PROVISIONING_MCP_BASE_URL": _mcp_base(plan),
        "STACKMCP_ADMIN_TOKEN": plan.state.admin_token(),
    }
    yield Child(
        "stackmcp.provisioning",
        "provisioning",
        "admin API and web console",
        base,
        http_ok(f"{base}/readyz"),
        env,
    )
    yield Child("stackmcp.expiry", "expiry", "purges expired MCP servers", "NATS",
                log_says(logs / "expiry.log", "stackmcp-expiry ready"))  # fmt: skip


def _mcp_base(plan: Plan) -> str:
    """Base of minted MCP URLs: the configured public URL, else the local gateway."""
    return os.environ.get("STACKMCP_PROVISIONING_MCP_BASE_URL") or plan.urls["gateway"]


def _demo_target(plan: Plan) -> DemoTarget | None:
    if plan.betterstack.token:
        return DemoTarget(
            token=plan.betterstack.token,
            base_url=plan.betterstack.base_url,
            team_name=plan.betterstack.team_name or None,
            real=True,
        )
    if "sandbox" not in plan.urls:
        return None
    return DemoTarget(
        token=plan.sandbox.token, base_url=plan.urls["sandbox"], team_name=None, real=False
    )


def _facts(plan: Plan, demo: dict[str, Any]) -> dict[str, Any]:
    return {
        "mcp_url": demo.get("mcp_url"),
        "gateway_url": plan.urls["gateway"],
        "provisioning_url": plan.urls["provisioning"],
        "sandbox_url": plan.urls.get("sandbox"),
        "admin_token": plan.state.admin_token(),
        "account_id": demo.get("account_id"),
        "server_id": demo.get("server_id"),
    }


def _print_summary(
    out: TextIO, supervisor: Supervisor, plan: Plan, demo: dict[str, Any], facts: dict[str, Any]
) -> None:
    lines = ["stackmcp is up:"]
    for c in supervisor.components:
        pid = f"pid {c.pid}" if c.pid else ""
        lines.append(f"  {c.name:<12} {c.address:<28} {pid:<11} {c.note}")
    if plan.use_sandbox:
        lines.append(f"  sandbox API token: {plan.sandbox.token} (demo data only)")
    lines += [
        f"  logs in {plan.state.logs}",
        "",
        f"Web console: {facts['provisioning_url']}/console/  (sign in with the admin token)",
        f"Admin API:  {facts['provisioning_url']}  (OpenAPI at /openapi.json)",
        f"Admin token: {facts['admin_token']}",
        "  (kept in the data directory: stackmcp commands run in this directory find it and the",
        f"   admin URL; from elsewhere: export STACKMCP_DATA_DIR={plan.state.data_dir})",
        "",
    ]
    if facts["account_id"]:
        lines.append(
            f"Demo MCP server ({demo['note']}): account {facts['account_id']},"
            f" server {facts['server_id']}"
        )
    else:
        lines.append(f"Demo MCP server: {demo['note']}")
    mcp_url = facts["mcp_url"]
    if mcp_url:
        lines += [
            f"MCP URL: {mcp_url}",
            "Connect Claude:",
            *guidance_lines(demo.get("client_config") or {}, indent="  "),
        ]
    lines.append("Press Ctrl-C to stop.")
    _say(out, "\n".join(lines))


def _connectable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 - comparison only


def _say(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()
