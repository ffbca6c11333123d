"""The production shape on one machine: a 3-node JetStream cluster, two gateways, two workers,
two expiry replicas and provisioning, all real processes on 127.0.0.1, as on Kubernetes.

Every service gets all three NATS URLs (``STACKMCP_NATS_URL``) and the events stream is kept in
three copies (``STACKMCP_NATS_STREAM_REPLICAS=3``). The tests stop one NATS node and one worker
(or one expiry replica) while MCP clients keep calling tools through both gateways.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import nats
import nats.js.errors
import pytest
from mcp import Client

from stackmcp.contracts.events import LifecycleEvent, McpServerExpired
from stackmcp.contracts.subjects import Subjects
from stackmcp.embedded import NatsServer, ValkeyServer, free_port, nats_cluster
from stackmcp.runtime.crypto import new_key
from tests.support.sandbox import RunningSandbox
from tests.support.stack import spawn_service, wait_ready
from tests.support.streams import terminate

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TOOL = "list_all_better_stack_incidents"
EVENTS = msgspec.json.Decoder(LifecycleEvent)


@dataclass
class Service:
    """One service process that can be stopped and started again with the same settings."""

    module: str
    env: dict[str, str]
    log: Path
    url: str
    """Base URL of its HTTP port (the health port for worker and expiry)."""
    proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Spawn the process (see :meth:`wait_ready`)."""
        self.proc = spawn_service(self.module, self.env, self.log)

    def wait_ready(self) -> None:
        """Wait for ``/readyz`` to answer 200; fail with the log's tail otherwise."""
        assert self.proc is not None
        wait_ready(self.url, self.proc, self.log)

    def stop(self) -> int:
        """SIGTERM (the graceful drain a pod gets) and wait; returns the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@dataclass
class Distributed:
    """Everything running, and what the tests need to reach it."""

    nats: list[NatsServer]
    env: dict[str, str]
    gateways: list[Service]
    workers: list[Service]
    expiry: list[Service]
    provisioning: Service
    admin_token: str
    account_id: str = ""
    services: list[Service] = field(default_factory=list)

    @property
    def admin_url(self) -> str:
        return self.provisioning.url

    def admin(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return httpx.Client(base_url=self.admin_url, headers=headers, timeout=20)

    def mcp_url(self, server: dict[str, object], gateway: int) -> str:
        token = str(server["url"]).rsplit("/", 1)[1]
        return f"{self.gateways[gateway].url}/mcp/{token}"

    def create_server(self, **body: object) -> dict[str, object]:
        with self.admin() as admin:
            answer = admin.post(f"/integrated-account/{self.account_id}/mcp", json=body)
        assert answer.status_code == 201, answer.text
        created: dict[str, object] = answer.json()
        return created


def _service(module: str, env: dict[str, str], logs: Path, name: str, **extra: str) -> Service:
    """A service with its own listen port (readiness probe at ``<url>/readyz``)."""
    port = free_port()
    port_variable = {
        "stackmcp.gateway": "STACKMCP_GATEWAY_PORT",
        "stackmcp.provisioning": "STACKMCP_PROVISIONING_PORT",
    }.get(module, "STACKMCP_HEALTH_PORT")
    service_env = {**env, port_variable: str(port), **extra}
    return Service(module, service_env, logs / f"{name}.log", f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def distributed(
    running_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Distributed]:
    base = tmp_path_factory.mktemp("distributed")
    servers = nats_cluster(base / "nats", size=3)
    valkey = ValkeyServer(base / "valkey").start()
    prefix = f"dist{secrets.token_hex(3)}"
    admin_token = f"smcp_adm_{secrets.token_urlsafe(32)}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    env = {
        **clean,
        "STACKMCP_NATS_URL": ",".join(server.url for server in servers),
        "STACKMCP_NATS_STREAM_REPLICAS": "3",
        "STACKMCP_NATS_SUBJECT_PREFIX": prefix,
        "STACKMCP_REDIS_URL": valkey.url,
        "STACKMCP_REDIS_KEY_PREFIX": prefix,
        "STACKMCP_CRYPTO_KEY": new_key(),
        "STACKMCP_LOG_FORMAT": "json",
        "STACKMCP_GATEWAY_CALL_TIMEOUT": "5",
        "STACKMCP_GATEWAY_CATALOG_REFRESH": "2",
        "STACKMCP_EXPIRY_MAX_SLEEP": "0.2",
        "STACKMCP_EXPIRY_OUTBOX_GRACE": "6",
        "STACKMCP_PROVISIONING_MIN_EXPIRY": "1",
        "STACKMCP_ADMIN_TOKEN": admin_token,
    }
    logs = base / "logs"
    logs.mkdir()
    gateways = [_service("stackmcp.gateway", env, logs, f"gateway-{i}") for i in range(2)]
    workers = [_service("stackmcp.betterstack_worker", env, logs, f"worker-{i}") for i in range(2)]
    expiry = [_service("stackmcp.expiry", env, logs, f"expiry-{i}") for i in range(2)]
    provisioning = _service(
        "stackmcp.provisioning",
        env,
        logs,
        "provisioning",
        STACKMCP_PROVISIONING_MCP_BASE_URL=gateways[0].url,
    )
    everything = [*workers, *gateways, provisioning, *expiry]
    system = Distributed(servers, env, gateways, workers, expiry, provisioning, admin_token)
    system.services = everything
    try:
        for service in everything:
            service.start()
        for service in everything:
            service.wait_ready()
        system.account_id = _connect_sandbox(system, running_sandbox)
        yield system
    finally:
        for service in reversed(everything):
            if service.proc is not None:
                terminate(service.proc)
        valkey.stop()
        for server in reversed(servers):
            server.stop()


def _connect_sandbox(system: Distributed, sandbox: RunningSandbox) -> str:
    body = {
        "integration": "betterstack",
        "name": "sandbox",
        "betterstack_token": sandbox.token,
        "base_url": sandbox.base_url,
        "verify": True,
    }
    with system.admin() as admin:
        answer = admin.post("/integrated-account", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _busiest(servers: list[NatsServer]) -> NatsServer:
    """The running node holding the most client connections (the one whose loss hurts)."""
    running = [server for server in servers if server.is_running]
    return max(running, key=lambda server: server.monitor("connz")["num_connections"])


@dataclass
class Calls:
    """Outcomes of tool calls made in a loop: (monotonic start time, ok, seconds taken)."""

    outcomes: list[tuple[float, bool, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def between(self, start: float, end: float) -> list[tuple[float, bool, float]]:
        return [o for o in self.outcomes if start <= o[0] < end]


async def _call_in_a_loop(url: str, calls: Calls, stop: asyncio.Event) -> None:
    """One MCP client session calling a tool back to back until ``stop`` is set."""
    async with Client(url) as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                result = await client.call_tool(TOOL, {"resolved": False, "limit": 1})
                ok = not result.is_error
                if not ok:
                    calls.errors.append(str(result.content)[:200])
            except Exception as exc:  # any failure is an outcome to count
                ok = False
                calls.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            calls.outcomes.append((started, ok, time.monotonic() - started))
            await asyncio.sleep(0.02)


def _restart(server: NatsServer, cluster: list[NatsServer]) -> None:
    """Start a stopped node again and wait until every node reports JetStream healthy.

    Call it on the event loop's own thread, never through ``asyncio.to_thread``: the node dies
    with the thread that started it (``PR_SET_PDEATHSIG``), and executor threads do not last.
    """
    server.start()
    deadline = time.monotonic() + 30
    while not all(node.healthz() for node in cluster):
        assert time.monotonic() < deadline, "the cluster did not become healthy again"
        time.sleep(0.2)


def _kill(server: NatsServer) -> None:
    """Crash a NATS node (SIGKILL: no lame duck, connections just drop)."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    server.stop()


async def test_tool_calls_keep_working_while_a_nats_node_and_a_worker_are_stopped(
    distributed: Distributed,
) -> None:
    server = distributed.create_server(name="calls", config={"methods": ["read"]})
    urls = [distributed.mcp_url(server, gateway) for gateway in (0, 1)]
    calls = [Calls(), Calls()]
    stop = asyncio.Event()
    loops = [
        asyncio.create_task(_call_in_a_loop(u, c, stop)) for u, c in zip(urls, calls, strict=True)
    ]
    await asyncio.sleep(2)
    node = _busiest(distributed.nats)
    crashed_at = time.monotonic()
    await asyncio.to_thread(_kill, node)
    assert await asyncio.to_thread(distributed.workers[0].stop) == 0
    await asyncio.sleep(8)
    stop.set()
    await asyncio.gather(*loops)
    ended = time.monotonic()

    for per_gateway in calls:
        before = per_gateway.between(0, crashed_at)
        after = per_gateway.between(crashed_at + 3, ended)
        assert before
        assert all(ok for _, ok, _ in before)
        assert len(after) >= 20, "calls slowed to a crawl after the failures"
        assert all(ok for _, ok, _ in after), "calls failed after the cluster re-formed"
        during = per_gateway.between(crashed_at, crashed_at + 3)
        failed = [o for o in during if not o[1]]
        assert len(failed) <= 1, f"more than the call in flight failed: {failed}"
    print(
        "distributed: calls per gateway (before, during 3 s, after):",
        [(len(c.between(0, crashed_at)), len(c.between(crashed_at, crashed_at + 3)),
          len(c.between(crashed_at + 3, ended))) for c in calls],
        "failures:", [c.errors for c in calls],
        "slowest call (s):", round(max(o[2] for c in calls for o in c.outcomes), 2),
    )  # fmt: skip

    _restart(node, distributed.nats)
    distributed.workers[0].start()
    distributed.workers[0].wait_ready()
    async with Client(urls[1]) as client:
        assert not (await client.call_tool(TOOL, {"resolved": False, "limit": 1})).is_error


async def test_expiry_purges_once_on_two_of_three_nodes_with_one_expiry_replica_down(
    distributed: Distributed,
) -> None:
    node = _busiest(distributed.nats)
    await asyncio.to_thread(_kill, node)
    assert await asyncio.to_thread(distributed.expiry[0].stop) == 0
    try:
        expires_at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).isoformat()
        server = distributed.create_server(name="short", expires_at=expires_at)
        url = distributed.mcp_url(server, 1)
        deadline = time.monotonic() + 15
        async with httpx.AsyncClient(timeout=5) as http:
            while (await http.get(url)).status_code != 404:
                assert time.monotonic() < deadline, "the expired server is still served"
                await asyncio.sleep(0.1)
        expired = await _expired_events(distributed, str(server["id"]))
        assert len(expired) == 1
    finally:
        _restart(node, distributed.nats)
        distributed.expiry[0].start()
        distributed.expiry[0].wait_ready()


async def _expired_events(distributed: Distributed, server_id: str) -> list[McpServerExpired]:
    """Every ``expired`` event for ``server_id`` in the replicated stream.

    Waits until at least one is there (a publish made while JetStream elected new leaders is
    re-published from the outbox), then reads again after a pause so a late duplicate counts.
    """
    deadline = time.monotonic() + 40
    while not await _read_expired(distributed, server_id):
        assert time.monotonic() < deadline, "no expired event reached the stream"
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)
    return await _read_expired(distributed, server_id)


async def _read_expired(distributed: Distributed, server_id: str) -> list[McpServerExpired]:
    subjects = Subjects(distributed.env["STACKMCP_NATS_SUBJECT_PREFIX"])
    running = [s.url for s in distributed.nats if s.is_running]
    nc = await nats.connect(servers=running)
    try:
        js = nc.jetstream(timeout=2)
        info = await js.stream_info(subjects.events_stream)
        assert info.config.num_replicas == 3
        subscription = await js.subscribe(
            subjects.mcp_server_event("expired"),
            stream=subjects.events_stream,
            ordered_consumer=True,
        )
        found: list[McpServerExpired] = []
        while True:
            try:
                message = await subscription.next_msg(timeout=1)
            except nats.errors.TimeoutError:
                break
            event = EVENTS.decode(message.data)
            if isinstance(event, McpServerExpired) and event.server_id == server_id:
                found.append(event)
        return found
    except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
        return []  # JetStream is electing leaders after the crash: ask again
    finally:
        await nc.close()
