"""Measure the betterstack-worker's CPU per tool call, against plain httpx in the same run.

Starts embedded NATS and Valkey, the sandbox and a real worker process, stores a sandbox
account, then sends tool calls over NATS with a fixed concurrency and reads the worker's CPU
time (user + system, from ``/proc``) before and after. The peer figure is a bare
``httpx.AsyncClient`` process doing the same upstream GETs; the upstream's own CPU per request
is reported too. Everything runs on 127.0.0.1.

    ./bin/uv run python bench/worker_cpu.py --calls 3000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import msgspec
import redis.asyncio as aioredis

from stackmcp.contracts.accounts import AccountRecord, credential_context
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.contracts.tools import (
    CatalogRequest,
    CatalogResponse,
    ToolCallRequest,
    ToolCallResult,
)
from stackmcp.embedded import EmbeddedInfra, free_port
from stackmcp.runtime.config import NatsConfig
from stackmcp.runtime.crypto import CryptoConfig, SecretBox, new_key
from stackmcp.runtime.errors import StackmcpError
from stackmcp.runtime.natsx import connect, request

TOKEN = "bench-sandbox-token"
TOOLS = {
    "get": ("get_single_better_stack_incident_by_id", {"incident_id": "7"}, "/api/v3/incidents/7"),
    "list": (
        "list_all_better_stack_incidents",
        {"limit": 10},
        "/api/v3/incidents?page=1&per_page=10",
    ),
}


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of a process and its live descendants, from ``/proc``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        try:
            fields = _stat(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def spawn(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m module`` with ``env`` added, output to ``log``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    return subprocess.Popen(
        [sys.executable, "-m", module],
        env={**clean, **env, "OTEL_TRACES_EXPORTER": "none"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_http(url: str, timeout: float = 20) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout}s")


async def drive(
    nats_url: str,
    subjects: Subjects,
    account_id: str,
    tool: str,
    args: dict[str, object],
    calls: int,
    concurrency: int,
) -> float:
    """Send ``calls`` tool calls with ``concurrency`` in flight; return wall seconds."""
    nc = await connect(NatsConfig(url=nats_url), "bench")
    message = ToolCallRequest(
        server_id="srv_bench",
        account_id=account_id,
        tool=tool,
        arguments=args,
        methods=("read",),
        timeout=10,
    )
    remaining = calls

    async def one_lane() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            result = await request(nc, subjects.tool_call, message, ToolCallResult, timeout=10)
            if result.is_error:
                raise SystemExit(f"tool error: {result.text}")

    started = time.perf_counter()
    await asyncio.gather(*(one_lane() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await nc.drain()
    return elapsed


HTTPX_PEER = """
import asyncio, sys, time, httpx, httpx_aiohttp
url, token, engine = sys.argv[1], sys.argv[2], sys.argv[5]
calls, conc = int(sys.argv[3]), int(sys.argv[4])
cls = httpx_aiohttp.HttpxAiohttpClient if engine == "aiohttp" else httpx.AsyncClient
async def main():
    async with cls(headers={"Authorization": "Bearer " + token}) as client:
        for _ in range(50):
            (await client.get(url)).json()
        left = calls
        async def lane():
            nonlocal left
            while left > 0:
                left -= 1
                r = await client.get(url)
                r.raise_for_status()
                r.json()
        cpu = time.process_time()
        await asyncio.gather(*(lane() for _ in range(conc)))
        print((time.process_time() - cpu) / calls * 1000)
asyncio.run(main())
"""


def httpx_peer_ms(url: str, calls: int, concurrency: int, engine: str = "httpx") -> float:
    """Client CPU ms per request of a bare httpx client (``engine`` transport), own process."""
    out = subprocess.run(
        [sys.executable, "-c", HTTPX_PEER, url, TOKEN, str(calls), str(concurrency), engine],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


async def wait_worker(nats_url: str, timeout: float = 20) -> None:
    """Wait until a worker answers ``catalog.get``."""
    nc = await connect(NatsConfig(url=nats_url), "bench-wait")
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                await request(
                    nc, Subjects().catalog_get, CatalogRequest(), CatalogResponse, timeout=2
                )
                return
            except StackmcpError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await nc.drain()


async def store_account(redis_url: str, key: str, base_url: str) -> str:
    """Write a sandbox account the way provisioning does."""
    redis = aioredis.Redis.from_url(redis_url)
    record = AccountRecord(
        id="acc_bench",
        name="bench",
        base_url=base_url,
        sealed_token=SecretBox(CryptoConfig(key=key)).seal(
            TOKEN, context=credential_context("acc_bench")
        ),
        created_at=dt.datetime.now(dt.UTC),
    )
    await redis.set(RedisKeys().account(record.id), msgspec.json.encode(record))
    await redis.aclose()
    return record.id


def main() -> None:
    """Run the measurement and print a table plus one JSON line."""
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tools", default="get,list")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stackmcp-bench-") as tmp:
        data = Path(tmp)
        infra = EmbeddedInfra.start(data)
        key = new_key()
        sandbox_port = free_port()
        base_url = f"http://127.0.0.1:{sandbox_port}"
        sandbox = spawn(
            "stackmcp.sandbox",
            {"STACKMCP_SANDBOX_PORT": str(sandbox_port), "STACKMCP_SANDBOX_TOKEN": TOKEN},
            data / "sandbox.log",
        )
        worker = spawn(
            "stackmcp.betterstack_worker",
            {
                "STACKMCP_NATS_URL": infra.nats_url,
                "STACKMCP_REDIS_URL": infra.redis_url,
                "STACKMCP_CRYPTO_KEY": key,
                "STACKMCP_LOG_LEVEL": "warning",
            },
            data / "worker.log",
        )
        try:
            wait_http(f"{base_url}/_sandbox/healthz")
            account_id = asyncio.run(store_account(infra.redis_url, key, base_url))
            asyncio.run(wait_worker(infra.nats_url))
            rows = []
            for name in options.tools.split(","):
                tool, args, path = TOOLS[name]
                asyncio.run(drive(infra.nats_url, Subjects(), account_id, tool, args, 200, 4))
                worker_before, sandbox_before = cpu_seconds(worker.pid), cpu_seconds(sandbox.pid)
                wall = asyncio.run(
                    drive(
                        infra.nats_url,
                        Subjects(),
                        account_id,
                        tool,
                        args,
                        options.calls,
                        options.concurrency,
                    )
                )
                worker_ms = (cpu_seconds(worker.pid) - worker_before) / options.calls * 1000
                upstream_ms = (cpu_seconds(sandbox.pid) - sandbox_before) / options.calls * 1000
                peer_ms = httpx_peer_ms(base_url + path, options.calls, options.concurrency)
                aiohttp_ms = httpx_peer_ms(
                    base_url + path, options.calls, options.concurrency, "aiohttp"
                )
                rows.append(
                    {
                        "tool": tool,
                        "calls": options.calls,
                        "concurrency": options.concurrency,
                        "calls_per_s": round(options.calls / wall, 1),
                        "worker_cpu_ms_per_call": round(worker_ms, 3),
                        "httpx_peer_cpu_ms_per_request": round(peer_ms, 3),
                        "ratio_worker_to_httpx": round(worker_ms / peer_ms, 2),
                        "httpx_aiohttp_peer_cpu_ms_per_request": round(aiohttp_ms, 3),
                        "upstream_cpu_ms_per_request": round(upstream_ms, 3),
                    }
                )
        finally:
            for process in (worker, sandbox):
                process.terminate()
                process.wait(10)
            infra.stop()
    print("CPU ms per call: worker process vs. a bare httpx client (same upstream, same run)")
    print(
        f"{'tool':40} {'calls/s':>8} {'worker':>7} {'httpx':>7} {'ratio':>6} "
        f"{'httpx+aiohttp':>13} {'upstream':>8}"
    )
    for row in rows:
        print(
            f"{row['tool']:40} {row['calls_per_s']:>8} {row['worker_cpu_ms_per_call']:>7} "
            f"{row['httpx_peer_cpu_ms_per_request']:>7} {row['ratio_worker_to_httpx']:>6} "
            f"{row['httpx_aiohttp_peer_cpu_ms_per_request']:>13} "
            f"{row['upstream_cpu_ms_per_request']:>8}"
        )
    print(json.dumps({"bench": "worker_cpu", "results": rows}))


if __name__ == "__main__":
    main()
