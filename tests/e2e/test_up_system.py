"""``stackmcp up`` as an operator meets it: everything started, a demo MCP server minted, its
URL answering the official MCP client, and all of it still there after a restart."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.filters import filter_tools
from stackmcp.embedded import free_port
from tests.support.sandbox import RunningSandbox
from tests.support.streams import LineReader, terminate

pytestmark = pytest.mark.e2e

STACKMCP = Path(sys.executable).with_name("stackmcp")
FACTS = ("mcp_url", "gateway_url", "provisioning_url", "sandbox_url", "admin_token", "account_id")


def _start(
    data_dir: Path, info: Path, ports: dict[str, int], **extra: str
) -> tuple[subprocess.Popen[str], LineReader]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    env = {
        **clean,
        "STACKMCP_DATA_DIR": str(data_dir),
        "STACKMCP_UP_INFO": str(info),
        "STACKMCP_LOCAL_NATS_PORT": str(ports["nats"]),
        "STACKMCP_LOCAL_REDIS_PORT": str(ports["redis"]),
        "STACKMCP_SANDBOX_PORT": str(ports["sandbox"]),
        "STACKMCP_GATEWAY_PORT": str(ports["gateway"]),
        "STACKMCP_PROVISIONING_PORT": str(ports["provisioning"]),
        **extra,
    }
    proc = subprocess.Popen(
        [str(STACKMCP), "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return proc, LineReader(proc.stdout)  # type: ignore[arg-type]


def _wait_info(info: Path, proc: subprocess.Popen[str], out: LineReader) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if info.exists():
            return dict(json.loads(info.read_text()))
        if proc.poll() is not None:
            pytest.fail(f"stackmcp up exited {proc.returncode}: {out.text()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"no info file within 90 s: {out.text()[-3000:]}")


async def _list_and_call(mcp_url: str) -> tuple[list[str], Any]:
    async with Client(mcp_url) as client:
        listed = await client.list_tools()
        result = await client.call_tool(
            "list_all_better_stack_incidents", {"resolved": False, "limit": 3}
        )
    return [t.name for t in listed.tools], result


def test_up_mints_a_demo_server_that_claude_can_use_and_keeps_it_across_restarts(
    tmp_path: Path,
) -> None:
    """The info file names every fact; the MCP URL serves exactly the demo filter's tools and a
    real tool call; a restart on the same data directory brings back the same server, its URL
    following the gateway to a new port."""
    ports = {n: free_port() for n in ("nats", "redis", "sandbox", "gateway", "provisioning")}
    data_dir, info = tmp_path / "data", tmp_path / "up.json"
    proc, out = _start(data_dir, info, ports)
    try:
        facts = _wait_info(info, proc, out)
        assert set(FACTS) <= set(facts)
        assert stat.S_IMODE(info.stat().st_mode) == 0o600
        assert facts["gateway_url"] == f"http://127.0.0.1:{ports['gateway']}"
        assert facts["provisioning_url"] == f"http://127.0.0.1:{ports['provisioning']}"
        assert facts["sandbox_url"] == f"http://127.0.0.1:{ports['sandbox']}"
        assert facts["mcp_url"].startswith(f"{facts['gateway_url']}/mcp/smcp_srv_")
        printed = out.wait_for("Press Ctrl-C to stop.", timeout=10) and out.text()
        assert facts["mcp_url"] in printed
        assert facts["admin_token"] in printed
        assert "claude mcp add --transport http better-stack-demo" in printed
        assert '"mcp-remote"' in printed

        names, result = anyio.run(_list_and_call, facts["mcp_url"])
        expected = filter_tools(
            default_catalog().tools, ("read", "write"), ("incidents", "on-call")
        )
        assert names == [t.name for t in expected]
        assert not result.is_error
        assert result.structured_content["result"], "the sandbox has open incidents"

        admin = {"Authorization": f"Bearer {facts['admin_token']}"}
        servers = httpx.get(
            f"{facts['provisioning_url']}/integrated-account/{facts['account_id']}/mcp",
            headers=admin,
        ).json()["items"]
        assert [s["id"] for s in servers] == [facts["server_id"]]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        terminate(proc)

    info.unlink()
    moved = {**ports, "gateway": free_port()}  # same data, the gateway on another port
    proc, out = _start(data_dir, info, moved)
    try:
        again = _wait_info(info, proc, out)
        token = facts["mcp_url"].rsplit("/", 1)[1]
        assert again["mcp_url"] == f"http://127.0.0.1:{moved['gateway']}/mcp/{token}"
        unchanged = ("admin_token", "account_id", "server_id", "provisioning_url")
        assert {k: again[k] for k in unchanged} == {k: facts[k] for k in unchanged}
        assert "kept from an earlier start" in out.wait_for("Demo MCP server", timeout=10)
        names, result = anyio.run(_list_and_call, again["mcp_url"])
        assert not result.is_error
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        terminate(proc)


def test_up_with_a_better_stack_token_verifies_it_and_mints_a_read_only_demo(
    tmp_path: Path, running_sandbox: RunningSandbox
) -> None:
    """STACKMCP_BETTERSTACK_TOKEN: no sandbox is started, a refused token stops the start with a
    clear message, an accepted one gives a read-only demo server on that API."""
    ports = {n: free_port() for n in ("nats", "redis", "sandbox", "gateway", "provisioning")}
    real = {"STACKMCP_BETTERSTACK_BASE_URL": running_sandbox.base_url}
    proc, out = _start(
        tmp_path / "refused", tmp_path / "refused.json", ports,
        STACKMCP_BETTERSTACK_TOKEN="not-the-right-token", **real,
    )  # fmt: skip
    try:
        assert proc.wait(90) == 1
        printed = out.drain()
        assert "Better Stack refused the token" in printed
        assert "not-the-right-token" not in printed
    finally:
        terminate(proc)

    info = tmp_path / "up.json"
    proc, out = _start(
        tmp_path / "data", info, ports, STACKMCP_BETTERSTACK_TOKEN=running_sandbox.token, **real
    )
    try:
        facts = _wait_info(info, proc, out)
        assert facts["sandbox_url"] is None
        assert "sandbox" not in out.wait_for("Press Ctrl-C to stop.", timeout=10) + out.text()
        names, result = anyio.run(_list_and_call, facts["mcp_url"])
        assert names == [
            t.name
            for t in filter_tools(default_catalog().tools, ("read",), ("incidents", "on-call"))
        ]
        assert not result.is_error
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        terminate(proc)
