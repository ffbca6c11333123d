"""The production shape on one machine, and MCP load with a record of every call.

Used by ``tests/e2e/test_distributed.py``, ``tests/e2e/test_faults.py`` and
``bench/faults.py``. :func:`distributed_shape` starts, all on 127.0.0.1: a 3-node JetStream
cluster (events stream in three copies), Valkey with AOF on a fixed port (so it can be restarted
where clients expect it), two gateways, two workers, two expiry replicas and provisioning, with
one sandbox account connected through the admin API. :class:`Load` runs closed-loop MCP clients
(the official SDK ``Client``) mixing reads and writes, each write carrying a unique marker text
so the sandbox can say afterwards what really ran and when (:func:`sandbox_comments`).

Waiting is always for a condition with a deadline (:func:`until`, ``wait_ready``). The only
plain sleeps are measuring windows (load runs for N seconds) and fault durations (a worker stays
stopped for N seconds), never a guess at how long some state takes to arrive.

Processes that die with the thread that started them (``PR_SET_PDEATHSIG``: NATS nodes and
Valkey) are restarted on :attr:`Distributed.spawner`, one thread that lives as long as the shape.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import itertools
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
import nats
import nats.errors
import nats.js.errors
from mcp import Client

from stackmcp.contracts.events import LifecycleEvent, McpServerExpired
from stackmcp.contracts.subjects import Subjects
from stackmcp.embedded import ManagedProcess, NatsServer, ValkeyServer, free_port, nats_cluster
from stackmcp.gateway.workers import WRITE_LATE, WRITE_UNCERTAIN
from stackmcp.runtime.crypto import new_key
from tests.support.sandbox import SANDBOX_TOKEN, RunningSandbox

__all__ = [
    "INCIDENT",
    "READ_TOOL",
    "WRITE_TOOL",
    "CallRecord",
    "Comment",
    "Distributed",
    "HarnessError",
    "Load",
    "LoadSpec",
    "Service",
    "WriteCheck",
    "busiest",
    "check_writes",
    "distributed_shape",
    "expired_event_counts",
    "kill_node",
    "restart_node",
    "sandbox_comments",
    "sandbox_running",
    "start_nodes",
    "until",
]

READ_TOOL = "list_all_better_stack_incidents"
WRITE_TOOL = "create_a_better_stack_incident_comment"
READ_ARGS: dict[str, Any] = {"resolved": False, "limit": 1}
INCIDENT = "7"
"""The seeded sandbox incident every write comments on."""
EVENTS = msgspec.json.Decoder(LifecycleEvent)
START_TIMEOUT = 120.0
"""Seconds seven Python services starting at once may take on a busy 2-core machine."""
T = TypeVar("T")


class HarnessError(AssertionError):
    """Part of the shape did not reach the state asked for within its deadline."""


async def until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    """Poll ``check`` on the event loop until it holds; raise :class:`HarnessError` after
    ``timeout`` seconds naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise HarnessError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(every)


# --------------------------------------------------------------------------- processes


@dataclass
class Service:
    """One service process that can be stopped, killed, paused and started again."""

    name: str
    module: str
    env: dict[str, str]
    log: Path
    url: str
    """Base URL of its HTTP port (the health port for worker and expiry)."""
    proc: subprocess.Popen[bytes] | None = None
    paused: bool = False

    @property
    def pid(self) -> int:
        """Process id of the current process."""
        return self._proc().pid

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def _proc(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            raise HarnessError(f"{self.name} was never started")
        return self.proc

    def start(self) -> None:
        """Spawn ``python -m <module>`` (see :meth:`wait_ready`); the log is appended to."""
        with self.log.open("ab") as out:
            out.write(f"--- started {dt.datetime.now(dt.UTC).isoformat()}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.paused = False

    def ready(self) -> bool:
        """Whether ``/readyz`` answers 200 right now."""
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def wait_ready(self, timeout: float = 30) -> None:
        """Poll ``/readyz`` until 200; fail with the log's tail if the process exits or stalls."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            self._check_alive()
            if time.monotonic() >= deadline:
                raise HarnessError(f"{self.name} not ready within {timeout:g} s:\n{self.tail()}")
            time.sleep(0.1)

    async def await_ready(self, timeout: float = 30) -> None:
        """:meth:`wait_ready` without blocking the event loop."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1) as http:
            while not await self._answers(http):
                self._check_alive()
                if time.monotonic() >= deadline:
                    raise HarnessError(f"{self.name} not ready in {timeout:g} s:\n{self.tail()}")
                await asyncio.sleep(0.1)

    async def _answers(self, http: httpx.AsyncClient) -> bool:
        try:
            return (await http.get(f"{self.url}/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    def _check_alive(self) -> None:
        status = self._proc().poll()
        if status is not None:
            raise HarnessError(f"{self.name} exited with status {status}:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        """The end of the service's log."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (the graceful drain a pod gets) and wait; returns the exit status."""
        proc = self._proc()
        self.resume()
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL (a crash: no drain, connections just drop) and reap."""
        proc = self._proc()
        proc.kill()
        proc.wait(timeout=10)
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets open but does nothing (a stalled pod)."""
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT a paused process (no-op otherwise)."""
        if self.paused and self.running:
            os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    def ensure_gone(self) -> None:
        """Make sure the process is gone: SIGTERM, SIGKILL after 15 s."""
        if not self.running:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.stop(timeout=15)
            return
        self.kill()


def _service(module: str, env: dict[str, str], logs: Path, name: str, **extra: str) -> Service:
    """A service with its own listen port (readiness probe at ``<url>/readyz``)."""
    port = free_port()
    port_variable = {
        "stackmcp.gateway": "STACKMCP_GATEWAY_PORT",
        "stackmcp.provisioning": "STACKMCP_PROVISIONING_PORT",
    }.get(module, "STACKMCP_HEALTH_PORT")
    service_env = {**env, port_variable: str(port), **extra}
    return Service(name, module, service_env, logs / f"{name}.log", f"http://127.0.0.1:{port}")


# --------------------------------------------------------------------------- NATS nodes


def busiest(servers: Sequence[NatsServer]) -> NatsServer:
    """The running node holding the most client connections (the one whose loss hurts)."""
    running = [server for server in servers if server.is_running]
    return max(running, key=lambda server: server.monitor("connz")["num_connections"])


def kill_node(server: NatsServer) -> None:
    """Crash a NATS node (SIGKILL: no lame duck, connections just drop) and reap it."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    server.stop()


def start_nodes(nodes: Sequence[NatsServer], timeout: float = 30) -> None:
    """Launch stopped nodes together (a whole cluster needs its peers to elect), then wait
    until each is ready. Call it on a long-lived thread (see the module docstring)."""
    for node in nodes:
        node.launch()
    deadline = time.monotonic() + timeout
    for node in nodes:
        node.wait_ready(max(0.1, deadline - time.monotonic()))


def cluster_healthy(cluster: Sequence[NatsServer]) -> bool:
    """Whether every node runs and reports JetStream healthy."""
    return all(node.is_running and node.healthz() for node in cluster)


def restart_node(server: NatsServer, cluster: Sequence[NatsServer], timeout: float = 30) -> None:
    """Start a stopped node again and wait until every node reports JetStream healthy.

    Call it on a long-lived thread (the test's own, or :attr:`Distributed.spawner`), never
    through ``asyncio.to_thread``: the node dies with the thread that started it.
    """
    start_nodes([server], timeout)
    deadline = time.monotonic() + timeout
    while not cluster_healthy(cluster):
        if time.monotonic() >= deadline:
            raise HarnessError("the NATS cluster did not become healthy again")
        time.sleep(0.2)


# --------------------------------------------------------------------------- the shape


@dataclass
class Distributed:
    """Everything running, and what tests and benchmarks need to reach it."""

    nats: list[NatsServer]
    valkey: ValkeyServer
    sandbox: RunningSandbox
    env: dict[str, str]
    gateways: list[Service]
    workers: list[Service]
    expiry: list[Service]
    provisioning: Service
    admin_token: str
    spawner: concurrent.futures.ThreadPoolExecutor
    """The one long-lived thread that (re)starts NATS nodes and Valkey."""
    account_id: str = ""
    sentinel: Any = None
    """A Valkey Sentinel setup when the shape runs one (the ``valkey-failover`` hook)."""

    @property
    def services(self) -> list[Service]:
        """Every service process, in start order."""
        return [*self.workers, *self.gateways, self.provisioning, *self.expiry]

    @property
    def admin_url(self) -> str:
        """Base URL of the admin API."""
        return self.provisioning.url

    @property
    def subjects(self) -> Subjects:
        """The NATS subjects of this shape."""
        return Subjects(self.env["STACKMCP_NATS_SUBJECT_PREFIX"])

    def admin_headers(self) -> dict[str, str]:
        """The admin API's ``Authorization`` header."""
        return {"Authorization": f"Bearer {self.admin_token}"}

    def admin(self) -> httpx.Client:
        """A client for the admin API (close it)."""
        return httpx.Client(base_url=self.admin_url, headers=self.admin_headers(), timeout=20)

    def admin_async(self, **options: Any) -> httpx.AsyncClient:
        """An async client for the admin API (close it)."""
        options.setdefault("timeout", 20)
        return httpx.AsyncClient(base_url=self.admin_url, headers=self.admin_headers(), **options)

    def server_path(self, server_id: str = "") -> str:
        """Admin API path of the account's MCP servers (or of one)."""
        path = f"/integrated-account/{self.account_id}/mcp"
        return f"{path}/{server_id}" if server_id else path

    def mcp_url(self, server: dict[str, object], gateway: int) -> str:
        """The server's MCP URL on one gateway."""
        token = str(server["url"]).rsplit("/", 1)[1]
        return f"{self.gateways[gateway].url}/mcp/{token}"

    def create_server(self, **body: object) -> dict[str, object]:
        """Mint an MCP server through the admin API; the answer (with its URL)."""
        with self.admin() as admin:
            answer = admin.post(self.server_path(), json=body)
        if answer.status_code != 201:
            raise HarnessError(f"creating a server answered {answer.status_code}: {answer.text}")
        created: dict[str, object] = answer.json()
        return created

    async def on_spawner(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the long-lived spawner thread without blocking the loop."""
        return await asyncio.get_running_loop().run_in_executor(self.spawner, function)

    async def make_whole(self, timeout: float = 60) -> None:
        """Bring back whatever a fault left stopped, paused or down, and wait until all of it
        is ready: NATS nodes healthy, Valkey answering, every service's ``/readyz`` 200."""
        stopped = [node for node in self.nats if not node.is_running]
        if stopped:
            await self.on_spawner(lambda: start_nodes(stopped, timeout))
        if not self.valkey.is_running and self.sentinel is None:  # a failover stays as it is
            await self.on_spawner(lambda: self.valkey.start(timeout))
        for service in self.services:
            service.resume()
            if not service.running:
                service.start()
        await until(lambda: cluster_healthy(self.nats), timeout, "NATS cluster healthy")
        for service in self.services:
            await service.await_ready(timeout)


def _environment(servers: list[NatsServer], valkey: ValkeyServer, admin: str) -> dict[str, str]:
    prefix = f"dist{secrets.token_hex(3)}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    return {
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
        "STACKMCP_ADMIN_TOKEN": admin,
        "STACKMCP_AUDIT_MAX_BYTES": str(64 * 1024 * 1024),
        **_unthrottled(),
    }


def _unthrottled() -> dict[str, str]:
    """Turn off the gateway's per-server and per-account call limits where the gateway has
    them: fault loads run far above the product defaults, and measure faults, not limits."""
    from stackmcp.gateway.config import GatewayConfig  # noqa: PLC0415 - the code under test

    limits = ("server_rate_limit", "account_rate_limit")
    fields = GatewayConfig.__struct_fields__
    return {f"STACKMCP_GATEWAY_{name.upper()}": "0" for name in limits if name in fields}


def _build(env: dict[str, str], logs: Path, **parts: Any) -> Distributed:
    """The shape's services (not started yet) around its already running ``parts``."""

    def make(module: str, name: str, **extra: str) -> Service:
        return _service(module, env, logs, name, **extra)

    gateways = [make("stackmcp.gateway", f"gateway-{i}") for i in range(2)]
    return Distributed(
        env=env,
        gateways=gateways,
        workers=[make("stackmcp.betterstack_worker", f"worker-{i}") for i in range(2)],
        expiry=[make("stackmcp.expiry", f"expiry-{i}") for i in range(2)],
        provisioning=make(
            "stackmcp.provisioning",
            "provisioning",
            STACKMCP_PROVISIONING_MCP_BASE_URL=gateways[0].url,
        ),
        **parts,
    )


@contextlib.contextmanager
def distributed_shape(
    base: Path, sandbox: RunningSandbox, *, sentinel: bool = False, **env_overrides: str
) -> Iterator[Distributed]:
    """Start the whole shape under ``base``, connect the sandbox account, stop it all at exit.

    ``sentinel``: Valkey as a primary, two replicas and three Sentinels
    (``tests/support/sentinel.py``) that the services follow, instead of one server.
    ``env_overrides`` replace service settings (``STACKMCP_GATEWAY_CALL_TIMEOUT="10"``).
    """
    with contextlib.ExitStack() as exits:
        spawner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="shape-spawner")
        exits.callback(spawner.shutdown)
        servers = nats_cluster(base / "nats", size=3)
        exits.callback(lambda: [server.stop() for server in reversed(servers)])
        valkey, group, redis_env = _valkey(exits, base, sentinel)
        admin_token = f"smcp_adm_{secrets.token_urlsafe(32)}"
        env = {**_environment(servers, valkey, admin_token), **redis_env, **env_overrides}
        logs = base / "logs"
        logs.mkdir()
        system = _build(
            env,
            logs,
            nats=servers,
            valkey=valkey,
            sandbox=sandbox,
            admin_token=admin_token,
            spawner=spawner,
            sentinel=group,
        )
        exits.callback(lambda: [service.ensure_gone() for service in reversed(system.services)])
        for service in system.services:
            service.start()
        for service in system.services:
            service.wait_ready(START_TIMEOUT)
        system.account_id = _connect_sandbox(system)
        yield system


def _valkey(
    exits: contextlib.ExitStack, base: Path, sentinel: bool
) -> tuple[ValkeyServer, Any, dict[str, str]]:
    """Start Valkey: one server on a fixed port, or (``sentinel``) a Sentinel group. Returns the
    (first) primary, the group or ``None``, and the settings pointing services at Sentinel."""
    if not sentinel:
        server = ValkeyServer(base / "valkey", port=free_port()).start()
        exits.callback(server.stop)
        return server, None, {}
    from tests.support.sentinel import sentinel_group  # noqa: PLC0415 - needs Sentinel support

    group = exits.enter_context(sentinel_group(base / "valkey-ha"))
    settings = {
        "STACKMCP_REDIS_SENTINELS": ",".join(group.sentinel_addresses),
        "STACKMCP_REDIS_SENTINEL_MASTER": group.master_name,
    }
    return group.primary, group, settings


def _connect_sandbox(system: Distributed) -> str:
    body = {
        "integration": "betterstack",
        "name": "sandbox",
        "betterstack_token": system.sandbox.token,
        "base_url": system.sandbox.base_url,
        "verify": True,
    }
    with system.admin() as admin:
        answer = admin.post("/integrated-account", json=body)
    if answer.status_code != 201:
        raise HarnessError(f"connecting the sandbox answered {answer.status_code}: {answer.text}")
    return str(answer.json()["id"])


@contextlib.contextmanager
def sandbox_running(base: Path, timeout: float = 20) -> Iterator[RunningSandbox]:
    """``python -m stackmcp.sandbox`` on a free port, outside pytest (for ``bench/``)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKMCP_")}
    env.update({"STACKMCP_SANDBOX_PORT": str(port), "STACKMCP_SANDBOX_TOKEN": SANDBOX_TOKEN})
    process = ManagedProcess(
        [sys.executable, "-m", "stackmcp.sandbox"],
        name="sandbox",
        env=env,
        log_file=base / "sandbox.log",
    ).start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        process.wait_ready(lambda: _healthy(f"{base_url}/_sandbox/healthz"), timeout=timeout)
        yield RunningSandbox(base_url=base_url, token=SANDBOX_TOKEN)
    finally:
        process.stop()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


# --------------------------------------------------------------------------- what really ran


@dataclass(frozen=True)
class Comment:
    """One incident comment in the sandbox: its text and when the sandbox stored it."""

    content: str
    created: float
    """Wall-clock seconds (``time.time()`` scale; the sandbox stamps milliseconds)."""


async def sandbox_comments(sandbox: RunningSandbox, incident: str = INCIDENT) -> list[Comment]:
    """Every comment on ``incident``, read back from the sandbox's own API."""
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(
            f"{sandbox.base_url}/api/v2/incidents/{incident}/comments",
            headers={"Authorization": f"Bearer {sandbox.token}"},
        )
    answer.raise_for_status()
    return [_comment(item["attributes"]) for item in answer.json()["data"]]


PROVENANCE_FOOTER = "\n\n— via "
"""Where the provenance footer a server adds to the comments it creates begins."""


def _comment(attributes: dict[str, Any]) -> Comment:
    """The comment with its text as the client wrote it (the provenance footer cut off)."""
    stamp = dt.datetime.fromisoformat(str(attributes["created_at"]).replace("Z", "+00:00"))
    content = str(attributes["content"]).split(PROVENANCE_FOOTER, 1)[0]
    return Comment(content, stamp.timestamp())


async def settled_comments(
    sandbox: RunningSandbox, prefix: str, timeout: float = 30
) -> list[Comment]:
    """The comments whose text starts with ``prefix``, once their number stops changing
    between two reads a second apart (a resumed worker may still be running queued writes)."""
    deadline = time.monotonic() + timeout
    previous: list[Comment] | None = None
    while True:
        current = [c for c in await sandbox_comments(sandbox) if c.content.startswith(prefix)]
        if previous is not None and len(current) == len(previous):
            return current
        if time.monotonic() >= deadline:
            raise HarnessError(f"comments {prefix}* still changing after {timeout:g} s")
        previous = current
        await asyncio.sleep(1)


async def expired_event_counts(system: Distributed, timeout: float = 10) -> dict[str, int]:
    """How many ``expired`` events each server id has in the replicated events stream.

    Reads exactly as many messages as the stream reports for the subject, each with its own
    deadline, so a slow delivery (a loaded machine) is waited for, not taken as the end.
    Returns ``{}`` when JetStream does not answer (leaders being elected): ask again.
    """
    subjects = system.subjects
    subject = subjects.mcp_server_event("expired")
    running = [node.url for node in system.nats if node.is_running]
    nc = await nats.connect(servers=running, connect_timeout=timeout)
    try:
        js = nc.jetstream(timeout=timeout)
        info = await js.stream_info(subjects.events_stream, subjects_filter=subject)
        if info.config.num_replicas != 3:
            raise HarnessError(f"events stream has {info.config.num_replicas} replicas, not 3")
        total = (info.state.subjects or {}).get(subject, 0)
        counts: dict[str, int] = {}
        if total:
            sub = await js.subscribe(subject, stream=subjects.events_stream, ordered_consumer=True)
            for _ in range(total):
                event = EVENTS.decode((await sub.next_msg(timeout=timeout)).data)
                if isinstance(event, McpServerExpired):
                    counts[event.server_id] = counts.get(event.server_id, 0) + 1
        return counts
    except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
        return {}
    finally:
        await nc.close()


@dataclass(frozen=True)
class WriteCheck:
    """What the sandbox says about the writes a load made."""

    lost: int
    """Writes the client was told succeeded that never reached the sandbox."""
    duplicated: int
    """Markers the sandbox stored more than once."""
    late: int
    """Writes stored after the client was told they failed, or after it gave up (a write it
    was told may still complete, :attr:`CallRecord.uncertain`, is not late when it does)."""
    ran_though_failed: int
    """Writes reported failed that were stored before the failure reached the client."""


def check_writes(records: Sequence[CallRecord], comments: Sequence[Comment]) -> WriteCheck:
    """Compare each write's outcome with what the sandbox stored under its marker."""
    stored: dict[str, list[float]] = {}
    for comment in comments:
        stored.setdefault(comment.content, []).append(comment.created)
    writes = [r for r in records if r.kind == "write"]
    lost = sum(1 for r in writes if r.ok and r.marker not in stored)
    duplicated = sum(1 for times in stored.values() if len(times) > 1)
    failed = [r for r in writes if not r.ok and not r.uncertain and r.marker in stored]
    late = sum(1 for r in failed if max(stored[r.marker]) > r.ended_wall)
    return WriteCheck(lost, duplicated, late, len(failed) - late)


# --------------------------------------------------------------------------- load


UNCERTAIN_PHRASES = (WRITE_UNCERTAIN[:100], WRITE_LATE[:90])
"""How the gateway tells a client that a write it could not confirm may still have run (its
worker had claimed it): such a write completing later is what the client was told, not a write
running late."""


@dataclass(frozen=True)
class CallRecord:
    """One attempt of a load client, as the client saw it."""

    client: int
    kind: str
    """``read``, ``write``, or ``connect`` (opening an MCP session failed)."""
    url: str
    marker: str
    """The comment text of a write (``""`` otherwise)."""
    started: float
    """``time.monotonic()`` when the call was sent."""
    ended: float
    """``time.monotonic()`` when the client had its answer, or gave up."""
    started_wall: float
    ended_wall: float
    """``time.time()`` at the same moment as ``ended`` (compared with sandbox stamps)."""
    outcome: str
    """``ok``; ``error`` (a tool result with ``isError``); ``timeout`` (the client gave up);
    ``failed`` (transport or protocol error)."""
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.outcome == "ok"

    @property
    def uncertain(self) -> bool:
        """The client was told the write may still have happened (its worker had claimed it
        and then fell silent or ran out of time), not that it failed."""
        return self.outcome == "error" and any(p in self.detail for p in UNCERTAIN_PHRASES)

    @property
    def seconds(self) -> float:
        """How long the client waited."""
        return self.ended - self.started


@dataclass(frozen=True)
class LoadSpec:
    """What a :class:`Load` does."""

    urls: Sequence[str]
    """MCP URLs; client ``i`` starts on ``urls[i % len(urls)]``."""
    clients: int = 4
    write_every: int = 3
    """Every n-th call of a client is a write (0: reads only)."""
    call_timeout: float = 15.0
    """Seconds a client waits for one answer before giving up."""
    pause: float = 0.0
    """Seconds between two calls of a client (0: closed loop, back to back)."""
    label: str = "load"
    """Start of every write marker (``<label>-<client>-<n>-<random>``)."""
    failover: bool = True
    """After a broken session, reconnect to the next URL (what a load balancer does)."""


class Load:
    """Closed-loop MCP clients calling tools until stopped, recording every call.

    Use as ``async with Load(spec) as load:``; leaving stops the clients after their current
    call (each bounded by ``call_timeout``).
    """

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.records: list[CallRecord] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._client(i)) for i in range(self.spec.clients)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop every client after its current call and wait for them."""
        self._stop.set()
        await asyncio.gather(*self._tasks)

    @property
    def calls(self) -> list[CallRecord]:
        """Tool calls (reads and writes), without failed connection attempts."""
        return [r for r in self.records if r.kind != "connect"]

    def started_between(self, start: float, end: float) -> list[CallRecord]:
        """Tool calls sent in ``[start, end)`` (monotonic)."""
        return [r for r in self.calls if start <= r.started < end]

    async def warm(self, timeout: float = 60) -> None:
        """Wait until every client has had one successful call."""
        clients = set(range(self.spec.clients))
        try:
            await until(
                lambda: clients <= {r.client for r in self.records if r.ok},
                timeout,
                "every load client one successful call",
            )
        except HarnessError as exc:
            raise HarnessError(f"{exc}; last failure: {self._last_problem()}") from None

    def _last_problem(self) -> str:
        failed = [r for r in self.records if not r.ok]
        return failed[-1].detail if failed else "no failures"

    async def _client(self, index: int) -> None:
        turn = index % len(self.spec.urls)
        numbers = itertools.count()
        while not self._stop.is_set():
            broken = await self._session(index, self.spec.urls[turn], numbers)
            if broken and self.spec.failover:
                turn = (turn + 1) % len(self.spec.urls)

    async def _session(self, index: int, url: str, numbers: Iterator[int]) -> bool:
        """Calls over one MCP session until stopped; whether the session broke.

        Everything happens inside ``async with Client(url)`` so that an error or the SDK's own
        cancel scope (it cancels the caller when its transport dies) reaches the client's
        ``__aexit__``, which absorbs its cancellation.
        """
        opened = False
        started, started_wall = time.monotonic(), time.time()
        try:
            async with asyncio.timeout(self.spec.call_timeout) as opening, Client(url) as client:
                opened = True
                opening.reschedule(None)
                while not self._stop.is_set():
                    if not await self._call(client, index, url, next(numbers)):
                        return True
                    if self.spec.pause:
                        await asyncio.sleep(self.spec.pause)
            return not self._stop.is_set()  # the SDK ended the session under a call
        except Exception as exc:  # opening or closing the session failed
            if not opened:
                self.records.append(
                    CallRecord(
                        index,
                        "connect",
                        url,
                        "",
                        started,
                        time.monotonic(),
                        started_wall,
                        time.time(),
                        "failed",
                        describe(exc),
                    )
                )
                await asyncio.sleep(0.05)  # pacing: no busy loop against a refused port
            return True

    async def _call(self, client: Client, index: int, url: str, number: int) -> bool:
        """One tool call, recorded; whether the session is still usable afterwards."""
        every = self.spec.write_every
        write = bool(every) and number % every == every - 1
        marker = f"{self.spec.label}-{index}-{number}-{secrets.token_hex(4)}" if write else ""
        name, arguments = (
            (WRITE_TOOL, {"incident_id": INCIDENT, "content": marker})
            if write
            else (READ_TOOL, READ_ARGS)
        )
        started, started_wall = time.monotonic(), time.time()

        def record(outcome: str, detail: str = "") -> None:
            kind = "write" if write else "read"
            self.records.append(
                CallRecord(
                    index,
                    kind,
                    url,
                    marker,
                    started,
                    time.monotonic(),
                    started_wall,
                    time.time(),
                    outcome,
                    detail,
                )
            )

        try:
            async with asyncio.timeout(self.spec.call_timeout):
                result = await client.call_tool(name, arguments)
        except TimeoutError:
            record("timeout", f"no answer within {self.spec.call_timeout:g} s")
            return True
        except asyncio.CancelledError:  # the SDK tore the session down under this call
            record("failed", "session torn down during the call")
            raise
        except Exception as exc:  # any failure is an outcome to count
            record("failed", describe(exc))
            return False
        record(
            "error" if result.is_error else "ok",
            str(result.content)[:300] if result.is_error else "",
        )
        return True


def describe(exc: BaseException) -> str:
    """``Type: message`` of the first leaf of an exception (groups unwrapped), shortened."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:300]


# --------------------------------------------------------------------------- fault trials


@dataclass(frozen=True)
class Profile:
    """How long each phase of a fault trial lasts (seconds)."""

    before: float = 6.0
    """Measured load before the fault."""
    after: float = 10.0
    """Measured load after the fault ends."""
    hold: float = 8.0
    """How long a killed or stopped part stays down before it is brought back."""
    stall: float = 40.0
    """How long a worker stays SIGSTOPped."""
    clients: int = 4
    recovery_deadline: float = 30.0
    """Longest wait after the fault for throughput to come back."""
    servers: int = 200
    """MCP servers created by ``expiry-outage``."""
    burst: int = 300
    """Concurrent ``initialize`` POSTs of ``initialize-burst``."""


FULL = Profile()
SHORT = Profile(before=4.0, after=6.0, hold=5.0, stall=8.0)


@dataclass(frozen=True)
class Figures:
    """One row of the fault table."""

    scenario: str
    ok: int
    failed: int
    before: float
    """Successful calls per second before the fault."""
    during: float
    after: float
    read_p99: float | None
    """Seconds; reads sent during the fault (failed and timed-out ones included)."""
    recovery: float | None
    """Seconds from fault end until throughput was back to 80 % of before (None: never)."""
    lost: int
    duplicated: int
    late: int
    notes: str = ""
    skipped: str = ""


@dataclass
class Trial:
    """One scenario while it runs, and what it measured."""

    name: str
    system: Distributed
    profile: Profile
    server: dict[str, object]
    """The MCP server the load calls."""
    label: str
    """Marker prefix of every write of this trial."""
    load: Load
    fault_start: float = 0.0
    fault_end: float = 0.0
    marks: dict[str, float] = field(default_factory=dict)
    """Named monotonic moments (``killed``, ``revoked``)."""
    extra: dict[str, float] = field(default_factory=dict)
    """Scenario figures the tests assert on (``in_flight_settled``, ``five_xx``)."""
    notes: list[str] = field(default_factory=list)
    side_records: list[CallRecord] = field(default_factory=list)
    """Calls of a second load (``revoke-in-flight``'s victim clients)."""
    figures: Figures | None = None

    def begin(self) -> float:
        """Mark the fault's start; returns it."""
        self.fault_start = time.monotonic()
        return self.fault_start

    def end(self) -> None:
        """Mark the fault's end (the part is back, or the fault is over)."""
        self.fault_end = time.monotonic()


@dataclass(frozen=True)
class Scenario:
    """A named fault: what to do, and what to explain afterwards."""

    name: str
    inject: Callable[[Trial], Awaitable[None]]
    """Runs the fault under load; calls :meth:`Trial.begin` and :meth:`Trial.end`."""
    explain: Callable[[Trial], None] | None = None
    """Adds scenario figures (``extra``, ``notes``) once the load has stopped."""
    skip: Callable[[Distributed], str | None] | None = None
    """Why the scenario cannot run on this shape (``None``: it can)."""
    latency_ms: int = 0
    """Sandbox latency for the whole trial, so that calls sit in a worker long enough for a
    fault to catch some of them there."""


def rate(records: Sequence[CallRecord], start: float, end: float) -> float:
    """Successful calls per second that ended in ``[start, end)``."""
    if end <= start:
        return 0.0
    return sum(1 for r in records if r.ok and start <= r.ended < end) / (end - start)


def p99(values: Sequence[float]) -> float | None:
    """The 99th percentile (nearest rank), ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def recovery_seconds(
    records: Sequence[CallRecord], since: float, target: float, until_: float, width: float = 1.0
) -> float | None:
    """Seconds from ``since`` to the first ``width``-second window whose rate is at least
    ``target``; ``None`` if none starts before ``until_ - width``."""
    if target <= 0:
        return None
    ends = sorted(r.ended for r in records if r.ok and r.ended >= since)
    at = since
    while at + width <= until_:
        if bisect.bisect_left(ends, at + width) - bisect.bisect_left(ends, at) >= target * width:
            return at - since
        at += 0.1
    return None


async def observe_after(trial: Trial) -> None:
    """Keep the load running after the fault: at least ``after`` seconds, and until throughput
    is back to 80 % of before or ``recovery_deadline`` passed."""
    profile, load = trial.profile, trial.load
    target = 0.8 * rate(load.calls, trial.fault_start - profile.before, trial.fault_start)
    done_at = trial.fault_end + profile.after
    give_up = trial.fault_end + max(profile.after, profile.recovery_deadline)

    def finished() -> bool:
        now = time.monotonic()
        back = recovery_seconds(load.calls, trial.fault_end, target, now) is not None
        return now >= give_up or (now >= done_at and back)

    await until(finished, give_up - time.monotonic() + 5, "the after-fault window", every=0.5)


async def run_trial(
    system: Distributed, scenario: Scenario, profile: Profile, server: dict[str, object]
) -> Trial:
    """Run one scenario under load and compute its :class:`Figures`; leaves the shape whole."""
    label = f"f{secrets.token_hex(3)}-{scenario.name}"
    urls = [system.mcp_url(server, gateway) for gateway in range(len(system.gateways))]
    load = Load(LoadSpec(urls=urls, clients=profile.clients, label=label))
    trial = Trial(scenario.name, system, profile, server, label, load)
    reason = scenario.skip(system) if scenario.skip else None
    if reason:
        trial.figures = Figures(scenario.name, 0, 0, 0, 0, 0, None, None, 0, 0, 0, skipped=reason)
        return trial
    await _set_latency(system.sandbox, scenario.latency_ms)
    try:
        async with load:
            await load.warm()
            await asyncio.sleep(profile.before)  # the measured before-window
            await scenario.inject(trial)
            await observe_after(trial)
    finally:
        await system.make_whole()
        await _set_latency(system.sandbox, 0)
    if scenario.latency_ms:
        trial.notes.append(f"sandbox latency {scenario.latency_ms} ms")
    if scenario.explain:
        scenario.explain(trial)
    comments = await settled_comments(system.sandbox, label)
    trial.figures = figures(trial, comments)
    return trial


async def _set_latency(sandbox: RunningSandbox, milliseconds: int) -> None:
    answer = await asyncio.to_thread(sandbox.admin, "PATCH", "knobs", {"latency_ms": milliseconds})
    if answer.status_code != 200:
        raise HarnessError(f"sandbox knobs answered {answer.status_code}: {answer.text}")


def figures(trial: Trial, comments: Sequence[Comment]) -> Figures:
    """The table row of a finished trial."""
    calls, profile = trial.load.calls, trial.profile
    start, end = trial.fault_start, trial.fault_end
    before = rate(calls, start - profile.before, start)
    reads = [r.seconds for r in trial.load.started_between(start, end) if r.kind == "read"]
    last = max((r.ended for r in calls), default=end)
    writes = check_writes([*calls, *trial.side_records], comments)
    notes = list(trial.notes)
    if writes.ran_though_failed:
        notes.append(f"{writes.ran_though_failed} writes reported failed had run")
    reconnects = sum(1 for r in trial.load.records if r.kind == "connect")
    if reconnects:
        notes.append(f"{reconnects} failed session opens")
    return Figures(
        scenario=trial.name,
        ok=sum(1 for r in calls if r.ok),
        failed=sum(1 for r in calls if not r.ok),
        before=before,
        during=rate(calls, start, end),
        after=rate(calls, end, end + profile.after),
        read_p99=p99(reads),
        recovery=recovery_seconds(calls, end, 0.8 * before, last),
        lost=writes.lost,
        duplicated=writes.duplicated,
        late=writes.late,
        notes="; ".join(notes),
    )


def in_flight_at(records: Sequence[CallRecord], moment: float) -> list[CallRecord]:
    """Calls sent before ``moment`` that had not ended by then."""
    return [r for r in records if r.started <= moment < r.ended]


# --------------------------------------------------------------------------- the scenarios


async def _worker_kill(trial: Trial) -> None:
    worker = trial.system.workers[0]
    trial.marks["killed"] = trial.begin()
    worker.kill()
    await asyncio.sleep(trial.profile.hold)  # the worker stays dead this long
    worker.start()
    await worker.await_ready()
    trial.end()


def _explain_worker_kill(trial: Trial) -> None:
    killed = trial.marks["killed"]
    caught = in_flight_at(trial.load.calls, killed)
    settled = max((r.ended - killed for r in caught), default=0.0)
    trial.extra.update(in_flight=len(caught), in_flight_settled=settled)
    failed = sum(1 for r in caught if not r.ok)
    trial.notes.append(
        f"{len(caught)} in flight at the kill ({failed} failed), all ended within {settled:.1f} s"
    )


async def _worker_stall(trial: Trial) -> None:
    worker = trial.system.workers[0]
    trial.begin()
    worker.pause()
    await asyncio.sleep(trial.profile.stall)  # the stall itself
    worker.resume()
    trial.end()
    trial.notes.append(f"SIGSTOP {trial.profile.stall:g} s")


async def _gateway_kill(trial: Trial) -> None:
    gateway = trial.system.gateways[0]
    trial.marks["killed"] = trial.begin()
    gateway.kill()
    await asyncio.sleep(trial.profile.hold)  # the gateway stays dead this long
    gateway.start()
    await gateway.await_ready()
    trial.end()


def _explain_gateway_kill(trial: Trial) -> None:
    killed = trial.marks["killed"]
    caught = in_flight_at(trial.load.calls, killed)
    later = [r for r in trial.load.calls if r.started >= killed and not r.ok]
    trial.notes.append(
        f"{sum(1 for r in caught if not r.ok)}/{len(caught)} in-flight calls failed, "
        f"{len(later)} failed after the kill; clients fail over to the other gateway"
    )


async def _nats_node_kill(trial: Trial) -> None:
    system = trial.system
    node = busiest(system.nats)
    trial.begin()
    kill_node(node)
    await asyncio.sleep(trial.profile.hold)  # the node stays dead this long
    await system.on_spawner(lambda: start_nodes([node]))
    await until(lambda: cluster_healthy(system.nats), 60, "NATS cluster healthy")
    trial.end()
    trial.notes.append(f"killed {node.server_name}, back after {trial.profile.hold:g} s")


async def _nats_cluster_restart(trial: Trial) -> None:
    system = trial.system
    trial.begin()
    await system.on_spawner(lambda: [node.stop() for node in system.nats])
    down = time.monotonic() - trial.fault_start
    await system.on_spawner(lambda: start_nodes(system.nats))
    await until(lambda: cluster_healthy(system.nats), 60, "NATS cluster healthy")
    trial.end()
    trial.notes.append(f"all 3 stopped ({down:.1f} s), started again, fault ends when healthy")


async def _valkey_restart(trial: Trial) -> None:
    valkey = trial.system.valkey
    trial.begin()
    await trial.system.on_spawner(valkey.stop)
    await trial.system.on_spawner(valkey.start)
    trial.end()
    trial.notes.append(f"down {trial.fault_end - trial.fault_start:.1f} s, same port")


async def _expiry_outage(trial: Trial) -> None:
    system = trial.system
    trial.begin()
    codes = [await asyncio.to_thread(replica.stop) for replica in system.expiry]
    servers = await _create_expiring(system, trial.profile.servers, seconds=2.0)
    last = max(_expires_at(server) for server in servers)
    await until(lambda: time.time() > last, 60, "every new server past its expires_at")
    for replica in system.expiry:
        replica.start()
    for replica in system.expiry:
        await replica.await_ready()
    trial.end()
    purged = await _purged_within(system, servers, timeout=120)
    ids = {str(server["id"]) for server in servers}
    counts = await _expired_counts(system, ids, timeout=60)
    _note_expiry(trial, codes, purged, [counts.get(i, 0) for i in ids])


def _note_expiry(trial: Trial, codes: list[int], purged: float, counts: list[int]) -> None:
    once = sum(1 for c in counts if c == 1)
    missing = sum(1 for c in counts if c == 0)
    doubled = sum(1 for c in counts if c > 1)
    trial.extra.update(purged_in=purged, events_once=once, events_missing=missing)
    trial.extra["events_doubled"] = doubled
    trial.notes.append(
        f"{len(counts)} purged {purged:.1f} s after expiry was back; expired events: "
        f"{once} exactly once, {missing} missing, {doubled} more than once; "
        f"expiry exit codes {codes}"
    )


def _expires_at(server: dict[str, object]) -> float:
    return dt.datetime.fromisoformat(str(server["expires_at"]).replace("Z", "+00:00")).timestamp()


async def _create_expiring(system: Distributed, count: int, seconds: float) -> list[dict[str, Any]]:
    """``count`` servers through the admin API, each expiring ``seconds`` after its request."""
    gate = asyncio.Semaphore(8)

    async def one(admin: httpx.AsyncClient, number: int) -> dict[str, Any]:
        async with gate:
            when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
            body = {"name": f"expiring-{number}", "expires_at": when.isoformat()}
            answer = await admin.post(system.server_path(), json=body)
        if answer.status_code != 201:
            raise HarnessError(f"creating server {number}: {answer.status_code} {answer.text}")
        created: dict[str, Any] = answer.json()
        return created

    async with system.admin_async() as admin:
        return list(await asyncio.gather(*(one(admin, n) for n in range(count))))


async def _purged_within(
    system: Distributed, servers: list[dict[str, Any]], timeout: float
) -> float:
    """Seconds until none of ``servers`` is listed by the admin API any more and each of
    their MCP URLs answers 404 (one list request per look, to keep the polling light)."""
    started = time.monotonic()
    ids = {str(server["id"]) for server in servers}
    async with system.admin_async() as admin, httpx.AsyncClient(timeout=20) as mcp:
        while True:
            listed = (await admin.get(system.server_path())).json()["items"]
            left = ids & {str(item["id"]) for item in listed}
            if not left and await _all_refused(system, admin, mcp, servers):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise HarnessError(f"{len(left)} expired servers still listed after {timeout:g} s")
            await asyncio.sleep(0.25)


async def _all_refused(
    system: Distributed,
    admin: httpx.AsyncClient,
    mcp: httpx.AsyncClient,
    servers: list[dict[str, Any]],
) -> bool:
    """Whether every server's admin GET and MCP URL answer 404."""
    for server in servers:
        if (await admin.get(system.server_path(str(server["id"])))).status_code != 404:
            return False
        if (await mcp.get(system.mcp_url(server, 1))).status_code != 404:
            return False
    return True


async def _expired_counts(system: Distributed, ids: set[str], timeout: float) -> dict[str, int]:
    """Expired-event counts once every id has one (then read again, so a late duplicate that
    the outbox re-publishes within its grace period is counted too)."""
    deadline = time.monotonic() + timeout
    counts = await expired_event_counts(system)
    while not ids <= counts.keys() and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        counts = await expired_event_counts(system)
    grace = float(system.env["STACKMCP_EXPIRY_OUTBOX_GRACE"])
    await asyncio.sleep(grace + 1)  # observation window for re-published duplicates
    return await expired_event_counts(system) or counts


async def _revoke_in_flight(trial: Trial) -> None:
    """Revoke a server its own clients keep calling, while more sessions on it wait open; as
    soon as the revoke answered, every waiting session calls a read and a write."""
    system = trial.system
    victim = system.create_server(name="victim", config={"methods": ["read", "write"]})
    urls = [system.mcp_url(victim, gateway) for gateway in range(len(system.gateways))]
    spec = LoadSpec(urls=urls, clients=trial.profile.clients, label=f"{trial.label}-victim")
    probes = Load(dataclasses.replace(spec, write_every=2, label=f"{trial.label}-probe"))
    opened: list[int] = []
    go = asyncio.Event()
    async with Load(spec) as victims:
        waiting = [asyncio.create_task(_probe(probes, i, opened, go)) for i in range(spec.clients)]
        await victims.warm()
        await until(lambda: len(opened) == spec.clients, 30, "probe sessions open")
        trial.begin()
        try:
            async with system.admin_async() as admin:
                answer = await admin.delete(system.server_path(str(victim["id"])))
            revoked = trial.marks["revoked"] = time.monotonic()
        finally:
            go.set()  # the probes call now (or, if the revoke failed, end)
        if answer.status_code != 204:
            raise HarnessError(f"revoke answered {answer.status_code}: {answer.text}")
        await asyncio.gather(*waiting)
        await until(lambda: _tries_after(victims, revoked) >= 3 * spec.clients, 30, "victim calls")
        trial.end()
    trial.side_records.extend([*victims.records, *probes.records])


async def _probe(load: Load, index: int, opened: list[int], go: asyncio.Event) -> None:
    """Open a session, wait for ``go``, then call a read and a write on it (recorded)."""
    url = load.spec.urls[index % len(load.spec.urls)]
    with contextlib.suppress(Exception):  # the session's end after a refused call
        async with Client(url) as client:
            opened.append(index)
            await go.wait()
            for number in range(2):  # a read, then a write, whatever the read's outcome
                await load._call(client, index, url, number)


def _tries_after(load: Load, moment: float) -> int:
    return sum(1 for r in load.records if r.started >= moment)


def _explain_revoke(trial: Trial) -> None:
    revoked = trial.marks["revoked"]
    calls = [r for r in trial.side_records if r.kind != "connect"]
    after = [r for r in calls if r.started >= revoked]
    succeeded = sum(1 for r in after if r.ok)
    straddling = sum(1 for r in in_flight_at(calls, revoked) if r.ok)
    trial.extra["succeeded_after_revoke"] = succeeded
    trial.notes.append(
        f"victim: {succeeded}/{len(after)} calls sent after the revoke answered succeeded "
        f"({straddling} in flight at that moment succeeded)"
    )


async def _initialize_burst(trial: Trial) -> None:
    """300 ``initialize`` POSTs at once, each on its own connection, from raw sockets: an httpx
    client with 300 connections spends ~20 ms of CPU per request itself and became the
    bottleneck it was meant to measure."""
    url = httpx.URL(trial.system.mcp_url(trial.server, 0))
    trial.begin()
    answers = await asyncio.gather(*(_initialize(url) for _ in range(trial.profile.burst)))
    trial.end()
    statuses = [status for status, _ in answers]
    slowest = max(seconds for _, seconds in answers)
    five_xx = sum(1 for s in statuses if s >= 500)
    timeouts = sum(1 for s in statuses if s == -1)
    others = sum(1 for s in statuses if s == -2 or 300 <= s < 500)
    trial.extra.update(five_xx=five_xx, timeouts=timeouts, other_failures=others)
    trial.notes.append(
        f"{len(statuses)} initialize: {statuses.count(200)} x 200, {five_xx} x 5xx, "
        f"{timeouts} client timeouts (10 s), {others} other; slowest {slowest:.1f} s"
    )


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "burst", "version": "1"},
    },
}


async def _initialize(url: httpx.URL) -> tuple[int, float]:
    """One ``initialize`` POST on a new connection: (status, seconds); -1 for a timeout (10 s),
    -2 for no answer."""
    body = msgspec.json.encode(INITIALIZE)
    head = (
        f"POST {url.raw_path.decode()} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    started = time.monotonic()
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection(url.host, url.port)
            try:
                writer.write(head.encode() + body)
                status_line = await reader.readline()
                await reader.read()
            finally:
                writer.close()
    except TimeoutError:
        return -1, time.monotonic() - started
    except OSError:
        return -2, time.monotonic() - started
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -2
    return status, time.monotonic() - started


def sentinel_helper() -> object | None:
    """``stackmcp.embedded``'s Sentinel helper, once it has one (any public name with
    "sentinel" in it); ``None`` until then."""
    from stackmcp import embedded  # noqa: PLC0415 - looked up at run time on purpose

    names = [n for n in getattr(embedded, "__all__", dir(embedded)) if "sentinel" in n.lower()]
    return getattr(embedded, names[0]) if names else None


def _needs_sentinel(system: Distributed) -> str | None:
    if sentinel_helper() is None:
        return "needs Sentinel support: stackmcp.embedded has no sentinel helper yet"
    if system.sentinel is None:
        return "needs a shape with Sentinel: distributed_shape(..., sentinel=True)"
    return None


async def _valkey_failover(trial: Trial) -> None:
    """SIGKILL the primary the Sentinels name and wait until they promote a replica.

    Runs on a shape started with ``sentinel=True`` (``Distributed.sentinel`` is then the
    ``SentinelGroup`` of ``tests/support/sentinel.py``: ``kill_primary()``, ``promoted()``).
    """
    sentinel = trial.system.sentinel
    trial.begin()
    killed = await trial.system.on_spawner(sentinel.kill_primary)
    promoted = await sentinel.promoted(timeout=60)
    trial.end()
    trial.notes.append(f"primary :{killed} killed, :{promoted} promoted; not restarted")


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("worker-kill", _worker_kill, _explain_worker_kill, latency_ms=100),
        Scenario("worker-stall", _worker_stall),
        Scenario("gateway-kill", _gateway_kill, _explain_gateway_kill),
        Scenario("nats-node-kill", _nats_node_kill),
        Scenario("nats-cluster-restart", _nats_cluster_restart),
        Scenario("valkey-restart", _valkey_restart),
        Scenario("valkey-failover", _valkey_failover, skip=_needs_sentinel),
        Scenario("expiry-outage", _expiry_outage),
        Scenario("revoke-in-flight", _revoke_in_flight, _explain_revoke),
        Scenario("initialize-burst", _initialize_burst),
    )
}
"""Every fault scenario by name, in the order the bench runs them."""


def load_server(system: Distributed) -> dict[str, object]:
    """The MCP server fault loads call: incident reads and writes."""
    return system.create_server(name="fault-load", config={"methods": ["read", "write"]})
