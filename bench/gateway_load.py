"""Load-test the stackmcp stack (gateway + NATS + betterstack-worker) against the official MCP
SDK server, on the same machine, in the same run, with the shared load generator.

What runs (all on 127.0.0.1, every process started here and stopped in ``finally``):

* embedded NATS and Valkey (``EmbeddedInfra``), one ``stackmcp.betterstack_worker`` and one
  ``stackmcp.gateway`` process; an account and a read-only grant stored in Valkey exactly as
  ``tests/support`` writes them;
* the shared upstream emulator (``shared/bench/upstream_emulator.py``), which both stacks call;
* the peers (``--peer``, default all three): ``shared/bench/peers/mcp_sdk_server.py`` (mcp 2.3.0
  ``MCPServer`` under uvicorn) in its default mode (stateful sessions, SSE replies) and stateless +
  JSON replies, and ``shared/bench/peers/fastmcp_openapi_server.py`` (fastmcp 4.2.3
  ``FastMCP.from_openapi`` over the emulator's ``/openapi.json``, under uvicorn) stateless + JSON
  replies;
* optionally our sandbox (``python -m stackmcp.sandbox``), for one more row where our worker
  gets a real Better Stack JSON:API answer to normalise.

For each op (``tools/list``, ``tools/call`` of the list-incidents tool) and each concurrency,
``mcp_load.py`` runs against each target, interleaved so drift hits all targets alike, with
``--expect`` so a wrong payload counts as an error and ``--cpu-pid`` for the processes of the
target. CPU placement (as ``run_matrix.py``): the target's processes (gateway, worker,
nats-server and Valkey for us; the server for each peer) share CPU 0, the load generator and the
upstreams CPU 1, so both sides get the same one-core budget.

What one ``tools/call`` does: ours is gateway (session, grant, catalogue check) → NATS request
→ worker (argument validation, account, request building) → HTTP GET to the upstream →
normalise, page, sign a cursor → NATS reply → gateway encodes ``content`` text and
``structuredContent``. The SDK peer's is SDK server → httpx GET to the upstream → the body as one
text block; FastMCP's is its generated OpenAPI tool → httpx GET → the body as ``content`` text and
``structuredContent`` (about twice the bytes, as ours). The emulator ignores
``page``/``per_page``, so every side asks for 50 incidents (``limit: 50``) and gets the same 50
(12,397 upstream bytes).

    ./bin/uv run python bench/gateway_load.py                    # about 6 min
    ./bin/uv run python bench/gateway_load.py --conc 8 -d 4 --no-sandbox   # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from stackmcp.contracts.keys import RedisKeys
from stackmcp.embedded import EmbeddedInfra, free_port
from stackmcp.runtime.crypto import CryptoConfig, SecretBox, new_key

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ runs as a script; tests.support lives at the repo root
    sys.path.insert(0, str(ROOT))

import floor  # noqa: E402
from otlpsink import otlp_sink  # noqa: E402
from proccpu import machine_busy_seconds, own_cpu_seconds  # noqa: E402

from tests.support.grants import mint_grant  # noqa: E402
from tests.support.worker import store_account  # noqa: E402

TOKEN = "bench-upstream-token"
OUR_TOOL = "list_all_better_stack_incidents"
PEER_TOOL = "list_incidents"
SERVER_CPU, HARNESS_CPU = "0", "1"


@dataclass(frozen=True)
class Peer:
    """One peer MCP server from ``shared/bench/peers``, run by its venv's python."""

    name: str
    script: str
    """File name in ``shared/bench/peers``; takes ``--port`` and ``--upstream``."""
    venv: str
    """``venv-<venv>`` under ``--perf-root`` (made by ``setup_venvs.sh <venv>``)."""
    extra: tuple[str, ...]
    notes: str
    ready_timeout: float = 30.0


_SDK = "mcp 2.3.0 MCPServer + hand-written httpx tools (the body as one text block)"
_FASTMCP = (
    "fastmcp 4.2.3 FastMCP.from_openapi, tools generated from the emulator's /openapi.json, "
    "httpx client (100 keep-alive), the body as text + structuredContent"
)
_STATELESS_JSON = ("--stateless", "--json-response")
PEERS = {
    "mcp-sdk": Peer(
        "mcp-sdk",
        "mcp_sdk_server.py",
        "mcp",
        (),
        f"{_SDK}; uvicorn 1 worker, stateful sessions, SSE replies",
    ),
    "mcp-sdk-stateless-json": Peer(
        "mcp-sdk-stateless-json",
        "mcp_sdk_server.py",
        "mcp",
        _STATELESS_JSON,
        f"{_SDK}; uvicorn 1 worker, stateless, JSON replies",
    ),
    "fastmcp-stateless-json": Peer(
        "fastmcp-stateless-json",
        "fastmcp_openapi_server.py",
        "fastmcp",
        _STATELESS_JSON,
        f"{_FASTMCP}; uvicorn 1 worker, stateless, JSON replies",
        ready_timeout=90.0,  # imports fastmcp and reads the spec, on the shared server core
    ),
}
"""Every peer by target name."""
PEER_CHOICES = {
    "stateful": ("mcp-sdk",),
    "stateless-json": ("mcp-sdk-stateless-json",),
    "both": ("mcp-sdk", "mcp-sdk-stateless-json"),
    "fastmcp": ("fastmcp-stateless-json",),
    "all": tuple(PEERS),
}
"""``--peer`` value → the peers it runs."""
TASKSET = shutil.which("taskset") or "taskset"


# --------------------------------------------------------------------------- processes


class Child:
    """A process started here in its own session; stopped by its own process-group id."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        logs: Path,
        env: dict[str, str] | None = None,
        cpus: str | None = None,
    ) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        if cpus is not None:
            argv = [TASKSET, "-c", cpus, *argv]  # taskset execs: the pid stays the program's
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self.proc.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait)

    def tail(self, lines: int = 15) -> str:
        """The last lines of the process's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def service_env(infra: EmbeddedInfra, key: str, **extra: str) -> dict[str, str]:
    """The environment of one of our services: no inherited STACKMCP_/OTEL_ settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACKMCP_", "OTEL_"))}
    return {
        **clean,
        "STACKMCP_NATS_URL": infra.nats_url,
        "STACKMCP_REDIS_URL": infra.redis_url,
        "STACKMCP_CRYPTO_KEY": key,
        "STACKMCP_LOG_LEVEL": "warning",
        "OTEL_TRACES_EXPORTER": "none",
        **extra,
    }


def pin(pid: int | None, cpus: str | None) -> None:
    """Move every thread of an already running process to ``cpus``."""
    if pid is not None and cpus is not None:
        subprocess.run(
            [TASKSET, "-a", "-p", "-c", cpus, str(pid)], check=False, capture_output=True
        )


def wait_http(
    url: str, child: Child | None, timeout: float = 30.0, any_answer: bool = False
) -> None:
    """Poll ``url`` until it answers 200 (or anything at all with ``any_answer``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise SystemExit(f"{child.name} exited early:\n{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        except urllib.error.HTTPError:
            if any_answer:
                return
        except OSError:
            pass
        time.sleep(0.2)
    tail = child.tail() if child is not None else ""
    raise SystemExit(f"{url} not ready within {timeout:.0f}s\n{tail}")


def ensure_venvs(shared: Path, perf_root: Path, names: set[str]) -> dict[str, Path]:
    """The pythons of the venvs ``names`` (``load``, ``mcp``, ``fastmcp``), by name; creates
    only the missing ones with setup_venvs.sh."""
    pythons = {v: perf_root / f"venv-{v}" / "bin" / "python" for v in sorted(names)}
    missing = [v for v, py in pythons.items() if not py.exists()]
    if missing:
        print(f"creating venv(s) {missing} with {shared / 'setup_venvs.sh'}", flush=True)
        subprocess.run(
            [shutil.which("bash") or "/bin/bash", str(shared / "setup_venvs.sh"), *missing],
            env={**os.environ, "PERF_ROOT": str(perf_root)},
            check=True,
            timeout=900,
        )
    return pythons


async def provision(
    redis_url: str, key: str, base_urls: dict[str, str], prefix: str = "stackmcp"
) -> dict[str, str]:
    """One account per upstream and a read-only grant on each; returns upstream → URL token."""
    redis = aioredis.Redis.from_url(redis_url)
    box = SecretBox(CryptoConfig(key=key))
    keys = RedisKeys(prefix)
    tokens = {}
    try:
        for name, base_url in base_urls.items():
            account = await store_account(redis, box, base_url=base_url, token=TOKEN, keys=keys)
            token, _ = await mint_grant(
                redis, keys, account_id=account.id, methods=("read",), name=f"bench {name}"
            )
            tokens[name] = token
    finally:
        await redis.aclose()
    return tokens


# --------------------------------------------------------------------------- targets and runs


@dataclass
class Target:
    """One MCP endpoint under test."""

    name: str
    url: str
    cpu: dict[str, int]
    """Process name → pid whose CPU is charged to this target."""
    tool: str
    args: dict[str, Any]
    expect_list: str
    expect_call: str
    ops: tuple[str, ...] = ("list", "call")
    ours: bool = False
    notes: str = ""


@dataclass
class Harness:
    """How to run one load cell."""

    python: Path
    script: Path
    duration: float
    warmup: float
    timeout: float
    cpus: str | None
    own_pids: list[int] = field(default_factory=list)
    """Every process this bench started (for the "other CPU" contamination check)."""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cell(h: Harness, target: Target, op: str, conc: int) -> dict[str, Any]:
    """One ``mcp_load.py`` run; its JSON result, or ``{"error": ...}``."""
    label = f"{target.name}|{op}|c{conc}"
    cmd = [str(h.python), str(h.script), target.url, "--json-only", "--op", op]
    cmd += ["-c", str(conc), "-d", str(h.duration), "--warmup", str(h.warmup)]
    cmd += ["--timeout", str(h.timeout), "--label", label]
    if op == "call":
        cmd += ["--tool", target.tool, "--args", json.dumps(target.args)]
    cmd += ["--expect", target.expect_call if op == "call" else target.expect_list]
    for name, pid in target.cpu.items():
        cmd += ["--cpu-pid", f"{name}={pid}"]
    if h.cpus is not None:
        cmd = [TASKSET, "-c", h.cpus, *cmd]
    limit = h.duration + h.warmup + 2 * h.timeout + 90
    before = (
        time.monotonic(),
        machine_busy_seconds(),
        own_cpu_seconds(h.own_pids),
        _children_cpu(),
    )
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"label": label, "error": f"mcp_load did not finish in {limit:.0f}s"}
    after = (time.monotonic(), machine_busy_seconds(), own_cpu_seconds(h.own_pids), _children_cpu())
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode not in (0, 2) or not lines:
        return {"label": label, "error": (done.stderr or done.stdout)[-800:]}
    result: dict[str, Any] = json.loads(lines[-1])
    # CPU used on this machine by anything this bench did not start, over the whole cell
    # (handshake + warm-up + window), in % of one core: other work skews req/s and latency.
    wall, busy, own, loadgen = (b - a for a, b in zip(before, after, strict=True))
    result["other_cpu_pct"] = round(100 * max(0.0, busy - own - loadgen) / wall, 1)
    return result


def summarise(target: Target, op: str, conc: int, r: dict[str, Any]) -> dict[str, Any]:
    """The row the table and the JSON line show."""
    row: dict[str, Any] = {"target": target.name, "op": op, "concurrency": conc}
    if "error" in r:
        row["failed"] = r["error"]
        return row
    ms = r.get("cpu_ms_per_req") or {}
    row.update(
        rps=r["rps"],
        ok=r["ok"],
        errors=r["errors"],
        error_kinds=r["error_kinds"],
        error_samples=r["error_samples"],
        p50_ms=r["latency_ms"]["p50"],
        p99_ms=r["latency_ms"]["p99"],
        max_ms=r["latency_ms"]["max"],
        resp_bytes=r["resp_bytes_avg"],
        content_types=r["content_types"],
        loadgen_cpu_pct=r["loadgen_cpu_pct"],
        other_cpu_pct=r.get("other_cpu_pct"),
        cpu_pct=r["cpu_pct"],
        cpu_ms=ms,
    )
    if target.ours and ms:
        row["cpu_ms_total"] = _sum(ms, "gateway", "worker")
        row["cpu_ms_total_nats"] = _sum(ms, "gateway", "worker", "nats")
    elif ms:
        row["cpu_ms_total"] = ms.get("server")
    return row


def merge_rounds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (target, op, concurrency): the median of each figure over the rounds
    (``--rounds``), errors summed; a cell that failed in any round stays failed."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["target"], row["op"], row["concurrency"]), []).append(row)
    merged = []
    for group in groups.values():
        failed = next((r for r in group if "failed" in r), None)
        if failed is not None or len(group) == 1:
            merged.append(failed or group[0])
            continue
        row = dict(group[0])
        for key, value in group[0].items():
            if key == "concurrency":
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                row[key] = _median([r.get(key) for r in group])
            elif isinstance(value, dict) and key in ("cpu_ms", "cpu_pct"):
                row[key] = {k: _median([r[key].get(k) for r in group]) for k in value}
        row["errors"] = sum(r["errors"] for r in group)
        row["ok"] = sum(r["ok"] for r in group)
        row["rounds"] = len(group)
        merged.append(row)
    return merged


def _median(values: list[Any]) -> Any:
    present = sorted(v for v in values if v is not None)
    return round(statistics.median(present), 3) if present else None


def _sum(ms: dict[str, float | None], *names: str) -> float | None:
    values = [ms.get(n) for n in names]
    if any(v is None for v in values):
        return None
    return round(sum(v for v in values if v is not None), 3)


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """The result table (Markdown)."""
    head = (
        "| target | op | c | req/s | p50 ms | p99 ms | gateway | worker | nats | ours total "
        "| +nats | peer server | upstream | loadgen % | other % | resp B | errors |"
    )
    out = [head, "|---|---|---:|" + "---:|" * 14]
    for row in rows:
        op = {"list": "tools/list", "call": "tools/call"}[row["op"]]
        if "failed" in row:
            out.append(f"| {row['target']} | {op} | {row['concurrency']} | FAILED |" + " |" * 13)
            continue
        ms = row["cpu_ms"]
        ours = "gateway" in ms
        cells = [
            row["target"],
            op,
            str(row["concurrency"]),
            _f(row["rps"], 1),
            _f(row["p50_ms"]),
            _f(row["p99_ms"]),
            _f(ms.get("gateway"), 3),
            _f(ms.get("worker"), 3),
            _f(ms.get("nats"), 3),
            _f(row.get("cpu_ms_total") if ours else None, 3),
            _f(row.get("cpu_ms_total_nats"), 3),
            _f(ms.get("server"), 3),
            _f(ms.get("upstream"), 3),
            _f(row["loadgen_cpu_pct"], 1),
            _f(row["other_cpu_pct"], 1),
            _f(row["resp_bytes"]),
            str(row["errors"]) + (f" {row['error_kinds']}" if row["errors"] else ""),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def ratios(rows: list[dict[str, Any]], ours: str, peers: list[str]) -> list[dict[str, Any]]:
    """Our CPU ms per request over each peer's, per op and concurrency."""
    index = {(r["target"], r["op"], r["concurrency"]): r for r in rows if "failed" not in r}
    out = []
    for (name, op, conc), row in index.items():
        if name != ours:
            continue
        for peer in peers:
            other = index.get((peer, op, conc))
            if other is None or not other.get("cpu_ms_total") or row.get("cpu_ms_total") is None:
                continue
            base = other["cpu_ms_total"]
            out.append(
                {
                    "op": op,
                    "concurrency": conc,
                    "peer": peer,
                    "ours_ms": row["cpu_ms_total"],
                    "ours_nats_ms": row.get("cpu_ms_total_nats"),
                    "peer_ms": base,
                    "ratio": round(row["cpu_ms_total"] / base, 2),
                    "ratio_with_nats": (
                        round(row["cpu_ms_total_nats"] / base, 2)
                        if row.get("cpu_ms_total_nats") is not None
                        else None
                    ),
                    "rps_ratio": round(row["rps"] / other["rps"], 2) if other["rps"] else None,
                }
            )
    return out


# --------------------------------------------------------------------------- the run


@dataclass
class Stack:
    """Everything started for one run."""

    infra: EmbeddedInfra
    key: str
    children: list[Child] = field(default_factory=list)
    upstreams: dict[str, str] = field(default_factory=dict)
    upstream_pids: dict[str, int] = field(default_factory=dict)

    def start(self, child: Child) -> Child:
        """Remember ``child`` so it is stopped with the stack."""
        self.children.append(child)
        return child

    def stop(self) -> None:
        """Stop every child (last started first), then NATS and Valkey."""
        for child in reversed(self.children):
            child.stop()
        self.infra.stop()


def _start_upstreams(stack: Stack, options: argparse.Namespace, logs: Path, py_load: Path) -> None:
    cpus = None if options.no_pin else HARNESS_CPU
    port = free_port()
    script = str(options.shared / "upstream_emulator.py")
    emulator = stack.start(
        Child("upstream-emulator", [str(py_load), script, "--port", str(port)], logs, cpus=cpus)
    )
    stack.upstreams["emulator"] = f"http://127.0.0.1:{port}"
    stack.upstream_pids["emulator"] = emulator.pid
    wait_http(f"{stack.upstreams['emulator']}/healthz", emulator)
    if not options.sandbox:
        return
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKMCP_")}
    env |= {"STACKMCP_SANDBOX_PORT": str(port), "STACKMCP_SANDBOX_TOKEN": TOKEN}
    argv = [sys.executable, "-m", "stackmcp.sandbox"]
    sandbox = stack.start(Child("sandbox", argv, logs, env=env, cpus=cpus))
    stack.upstreams["sandbox"] = f"http://127.0.0.1:{port}"
    stack.upstream_pids["sandbox"] = sandbox.pid
    wait_http(f"{stack.upstreams['sandbox']}/_sandbox/healthz", sandbox)


@dataclass
class Services:
    """One worker and one gateway of ours, and the processes their CPU is charged to."""

    base: str
    tokens: dict[str, str]
    cpu: dict[str, int]


def _start_services(
    stack: Stack,
    options: argparse.Namespace,
    logs: Path,
    upstreams: dict[str, str],
    *,
    python: str = sys.executable,
    prefix: str = "stackmcp",
    name: str = "",
    traces_to: str | None = None,
) -> Services:
    """Start a worker and a gateway with ``python`` under their own subject and key
    ``prefix`` (so two trees share NATS and Valkey), provision a grant per upstream; with
    ``traces_to``, both export their spans there over OTLP/HTTP."""
    cpus = None if options.no_pin else SERVER_CPU
    infra = stack.infra
    prefixes = {"STACKMCP_NATS_SUBJECT_PREFIX": prefix, "STACKMCP_REDIS_KEY_PREFIX": prefix}
    if traces_to is not None:
        prefixes |= {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces_to,
            "OTEL_METRICS_EXPORTER": "none",
        }
    env = service_env(infra, stack.key, **prefixes)
    argv = [python, "-m", "stackmcp.betterstack_worker"]
    worker = stack.start(Child(f"{name}worker", argv, logs, env=env, cpus=cpus))
    port = free_port()
    # Limits high enough never to refuse, so the limiter's per-call cost is still measured.
    env = service_env(
        infra,
        stack.key,
        **prefixes,
        STACKMCP_GATEWAY_PORT=str(port),
        STACKMCP_GATEWAY_SERVER_RATE_LIMIT="1000000000",
        STACKMCP_GATEWAY_ACCOUNT_RATE_LIMIT="1000000000",
    )
    argv = [python, "-m", "stackmcp.gateway"]
    gateway = stack.start(Child(f"{name}gateway", argv, logs, env=env, cpus=cpus))
    tokens = asyncio.run(provision(infra.redis_url, stack.key, upstreams, prefix=prefix))
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/readyz", gateway, timeout=40)
    cpu = {"gateway": gateway.pid, "worker": worker.pid}
    for part, server in (("nats", infra.nats_server), ("valkey", infra.valkey_server)):
        if server is not None and server.pid is not None:
            cpu[part] = server.pid
    return Services(base=base, tokens=tokens, cpu=cpu)


def _start_ours(stack: Stack, options: argparse.Namespace, logs: Path) -> list[Target]:
    cpus = None if options.no_pin else SERVER_CPU
    infra = stack.infra
    pin(infra.nats_server.pid if infra.nats_server else None, cpus)
    pin(infra.valkey_server.pid if infra.valkey_server else None, cpus)
    sink = options.trace_sink
    traces_to = None if sink is None else sink.url
    ours = _start_services(stack, options, logs, stack.upstreams, traces_to=traces_to)
    base, tokens, cpu = ours.base, ours.tokens, ours.cpu
    exported = "" if sink is None else "; spans exported over OTLP/HTTP to a counting sink"
    targets = [
        _emulator_target(
            stack,
            ours,
            "stackmcp",
            "gateway + NATS + worker; upstream: the shared emulator (bare JSON array, "
            f"50 incidents); MCP sessions, JSON replies{exported}",
        )
    ]
    if "sandbox" in tokens:
        targets.append(
            Target(
                name="stackmcp-sandbox",
                url=f"{base}/mcp/{tokens['sandbox']}",
                cpu={**cpu, "upstream": stack.upstream_pids["sandbox"]},
                tool=OUR_TOOL,
                args={"limit": 10},
                expect_list=OUR_TOOL,
                expect_call="Checkout API is down",  # the sandbox's newest seeded incident
                ops=("call",),
                ours=True,
                notes="same gateway and worker; upstream: our sandbox (Better Stack JSON:API "
                "envelope, 10 incidents, flattened by the worker)",
            )
        )
    return targets


COMPARED = "stackmcp-compared"
"""Target name of the services of ``--compare-tree`` (another checkout, e.g. before a change)."""


def _start_compared(stack: Stack, options: argparse.Namespace, logs: Path) -> list[Target]:
    """The worker and gateway of ``--compare-tree``, on the same NATS and Valkey under their own
    subject and key prefix, against the same emulator: the other side of a before/after."""
    tree: Path = options.compare_tree
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} missing: run ./bin/uv sync --locked in {tree}")
    emulator = {"emulator": stack.upstreams["emulator"]}
    compared = _start_services(
        stack, options, logs, emulator, python=str(python), prefix="compared", name="compared-"
    )
    notes = f"the same services from {tree} (its own venv), same NATS, Valkey and emulator"
    return [_emulator_target(stack, compared, COMPARED, notes)]


FLOOR = "floor"
"""Target name of ``bench/floor.py``: the design's hops and libraries, none of the product."""


def _start_floor(stack: Stack, options: argparse.Namespace, logs: Path) -> list[Target]:
    """``bench/floor.py`` as a worker and a gateway, pinned with ours, on the same NATS and
    emulator: what a call costs with nothing but the hops (see its docstring)."""
    cpus = None if options.no_pin else SERVER_CPU
    script = str(ROOT / "bench" / "floor.py")
    nats_url = stack.infra.nats_url
    argv = [sys.executable, script, "worker", "--nats", nats_url]
    worker = stack.start(
        Child("floor-worker", [*argv, "--upstream", stack.upstreams["emulator"]], logs, cpus=cpus)
    )
    deadline = time.monotonic() + 30
    while floor.READY not in worker.tail():
        if not worker.alive() or time.monotonic() > deadline:
            raise SystemExit(f"the floor worker did not start:\n{worker.tail()}")
        time.sleep(0.2)
    port = free_port()
    argv = [sys.executable, script, "gateway", "--nats", nats_url, "--port", str(port)]
    gateway = stack.start(Child("floor-gateway", argv, logs, cpus=cpus))
    url = f"http://127.0.0.1:{port}/mcp"
    wait_http(url, gateway, any_answer=True)
    cpu = {"gateway": gateway.pid, "worker": worker.pid}
    if stack.infra.nats_server is not None and stack.infra.nats_server.pid is not None:
        cpu["nats"] = stack.infra.nats_server.pid
    notes = (
        "bench/floor.py: embedded Granian ASGI + NATS + a worker's aiohttp GET, uvloop; no "
        "Redis, grant, session, limit, deadline, audit, span, metric or flattening"
    )
    return [
        Target(
            name=FLOOR,
            url=url,
            cpu={**cpu, "upstream": stack.upstream_pids["emulator"]},
            tool=floor.TOOL,
            args={"limit": 50},
            expect_list=floor.TOOL,
            expect_call="INC-0050",
            ours=True,
            notes=notes,
        )
    ]


def _emulator_target(stack: Stack, services: Services, name: str, notes: str) -> Target:
    """Our list-incidents call through ``services`` against the shared emulator."""
    return Target(
        name=name,
        url=f"{services.base}/mcp/{services.tokens['emulator']}",
        cpu={**services.cpu, "upstream": stack.upstream_pids["emulator"]},
        tool=OUR_TOOL,
        args={"limit": 50},
        expect_list=OUR_TOOL,
        expect_call="INC-0050",
        ours=True,
        notes=notes,
    )


def _start_peers(
    stack: Stack, options: argparse.Namespace, logs: Path, pythons: dict[str, Path]
) -> list[Target]:
    cpus = None if options.no_pin else SERVER_CPU
    targets = []
    for peer in options.peers:
        port = free_port()
        script = str(options.shared / "peers" / peer.script)
        argv = [str(pythons[peer.venv]), script, "--port", str(port)]
        argv += ["--upstream", stack.upstreams["emulator"], *peer.extra]
        child = stack.start(Child(peer.name, argv, logs, cpus=cpus))
        url = f"http://127.0.0.1:{port}/mcp"
        wait_http(url, child, timeout=peer.ready_timeout, any_answer=True)
        targets.append(
            Target(
                name=peer.name,
                url=url,
                cpu={"server": child.pid, "upstream": stack.upstream_pids["emulator"]},
                tool=PEER_TOOL,
                args={"limit": 50},
                expect_list=PEER_TOOL,
                expect_call="INC-0050",
                notes=f"{peer.notes}; upstream: the shared emulator",
            )
        )
    return targets


@contextlib.contextmanager
def running_stack(
    options: argparse.Namespace, logs: Path, pythons: dict[str, Path]
) -> Iterator[tuple[list[Target], list[Child]]]:
    """Start everything, yield the targets (ours first) and the processes, stop everything."""
    stack = Stack(infra=EmbeddedInfra.start(logs / "infra"), key=new_key())
    try:
        _start_upstreams(stack, options, logs, pythons["load"])
        ours = _start_ours(stack, options, logs)
        if options.compare_tree is not None:
            ours[1:1] = _start_compared(stack, options, logs)
        if options.floor:
            ours[1:1] = _start_floor(stack, options, logs)
        peers = _start_peers(stack, options, logs, pythons)
        yield [ours[0], *peers, *ours[1:]], stack.children
    finally:
        stack.stop()


@contextlib.contextmanager
def profiling(options: argparse.Namespace, target: Target, op: str, conc: int) -> Iterator[None]:
    """With ``--profile DIR``: sample our gateway and worker with py-spy (collapsed stacks,
    ``--nonblocking`` so the target is never paused) for the length of one cell."""
    if options.profile is None or not target.ours or target.name == COMPARED:
        yield
        return
    options.profile.mkdir(parents=True, exist_ok=True)
    spies = []
    for part in ("gateway", "worker"):
        prefix = "" if target.name == "stackmcp" else f"{target.name}-"
        out = options.profile / f"{prefix}{part}-{op}-c{conc}.txt"
        argv = [options.py_spy, "record", "--format", "raw", "--nonblocking", "--full-filenames"]
        argv += ["-r", "250"]
        argv += ["-p", str(target.cpu[part]), "-o", str(out)]
        spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for spy in spies:
            spy.wait(timeout=30)


def run_cells(
    options: argparse.Namespace, harness: Harness, targets: list[Target], started: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Every (op, concurrency, target) cell, interleaved; rows, raw results, cells skipped."""
    concs = [int(c) for c in options.conc.split(",")]
    ops = options.ops.split(",")
    one = [(op, c, t) for op in ops for c in concs for t in targets if op in t.ops]
    cells = one * options.rounds
    eta = len(cells) * (options.duration + options.warmup + 2)
    print(
        f"stack up in {time.monotonic() - started:.1f}s; {len(cells)} cells, ~{eta:.0f}s; "
        f"pinning: {'off' if options.no_pin else 'targets CPU 0, harness CPU 1'}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    skipped = 0
    for op, conc, target in cells:
        if time.monotonic() - started > options.budget:
            skipped += 1
            continue
        with profiling(options, target, op, conc):
            result = run_cell(harness, target, op, conc)
        raw.append(result)
        row = summarise(target, op, conc, result)
        rows.append(row)
        if "failed" in row:
            print(f"  {target.name} {op} c={conc}: FAILED {row['failed'][:300]}", flush=True)
        else:
            print(
                f"  {target.name:24} {op:4} c={conc:<3} {row['rps']:>7} req/s "
                f"p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms errors {row['errors']} "
                f"cpu ms/req {row['cpu_ms']}",
                flush=True,
            )
            if row["errors"]:
                print(f"    error samples: {row['error_samples']}", flush=True)
        time.sleep(0.5)
    return merge_rounds(rows), raw, skipped


def report(
    options: argparse.Namespace,
    rows: list[dict[str, Any]],
    notes: list[str],
    skipped: int,
    elapsed: float,
) -> None:
    """Print the table, the ratios and the final JSON line."""
    peers = [peer.name for peer in options.peers]
    ratio_rows = ratios(rows, "stackmcp", peers)
    compared_rows = [
        *(r | {"ours": other} for other in (COMPARED, FLOOR) for r in ratios(rows, other, peers)),
        *(r | {"ours": "stackmcp"} for r in ratios(rows, "stackmcp", [COMPARED, FLOOR])),
    ]
    print()
    print(
        f"stackmcp gateway load: {options.duration:g} s (+{options.warmup:g} s warm-up) per cell, "
        f"{options.rounds} round(s), medians; CPU ms per request of each process tree; "
        f"{os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}; pinning "
        + ("off" if options.no_pin else "targets CPU 0, load generator + upstreams CPU 1")
        + (f"; {skipped} cell(s) skipped (budget)" if skipped else "")
    )
    print()
    print(table(rows))
    print()
    print("\n".join(notes))
    print()
    print("CPU per request, ours (gateway + worker [+ nats]) / peer server, same upstream, run:")
    for r in ratio_rows:
        print(
            f"  {r['op']:4} c={r['concurrency']:<3} vs {r['peer']:24} "
            f"{r['ours_ms']:.3f} / {r['peer_ms']:.3f} ms = {r['ratio']:.2f}x"
            f"  (with nats {r['ratio_with_nats']}x; req/s ratio {r['rps_ratio']})"
        )
    for r in compared_rows:
        print(f"  {r['op']:4} c={r['concurrency']:<3} {r['ours']} vs {r['peer']:24} ", end="")
        print(
            f"{r['ours_ms']:.3f} / {r['peer_ms']:.3f} ms = {r['ratio']:.2f}x"
            f"  (with nats {r['ratio_with_nats']}x; req/s ratio {r['rps_ratio']})"
        )
    line = {
        "bench": "gateway_load",
        "duration_s": options.duration,
        "warmup_s": options.warmup,
        "pinning": not options.no_pin,
        "elapsed_s": round(elapsed, 1),
        "skipped": skipped,
        "rows": rows,
        "ratios": ratio_rows,
        "compared": compared_rows,
    }
    print(json.dumps(line, separators=(",", ":")))


def parse_options() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("-d", "--duration", type=float, default=8.0, help="measured s per cell")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--conc", default="1,8,64", help="comma list of concurrencies")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s")
    parser.add_argument("--no-pin", action="store_true", help="no CPU pinning")
    parser.add_argument("--no-sandbox", dest="sandbox", action="store_false")
    parser.add_argument(
        "--peer",
        choices=list(PEER_CHOICES),
        default="all",
        help="which peers to measure: the SDK server stateful (SSE), stateless-json or both; "
        "fastmcp (FastMCP.from_openapi, stateless JSON); all (the three; default)",
    )
    parser.add_argument("--budget", type=float, default=480.0, help="skip cells after this many s")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the interleaved matrix this many times; each figure is the median over them",
    )
    parser.add_argument("--out", type=Path, help="keep logs and results.jsonl in this folder")
    parser.add_argument("--ops", default="list,call", help="comma list of list, call")
    parser.add_argument(
        "--profile",
        type=Path,
        help="sample our gateway and worker with py-spy during each cell into this folder "
        "(collapsed stacks; summarise with bench/flame.py); py-spy from PATH or `uv tool run`",
    )
    parser.add_argument(
        "--compare-tree",
        type=Path,
        help="also measure the services of another checkout (its .venv), e.g. a git worktree "
        "of the commit before a change: the before/after ratio comes from the same run",
    )
    parser.add_argument(
        "--export-traces",
        action="store_true",
        help="our gateway and worker (not --compare-tree's) export their spans over OTLP/HTTP "
        "to a sink in this process that counts them: with --compare-tree of the same commit, "
        "what exporting traces costs",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure bench/floor.py: the same hops and libraries (embedded Granian ASGI, "
        "NATS, a worker's aiohttp GET) with none of the product, the floor of the design",
    )
    parser.add_argument(
        "--shared", type=Path, default=ROOT.parent / "shared" / "bench", help="shared/bench"
    )
    parser.add_argument(
        "--perf-root",
        type=Path,
        default=Path(os.environ.get("PERF_ROOT", Path.home() / ".cache" / "stackmcp-bench")),
    )
    options = parser.parse_args()
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        options.no_pin = True
    options.py_spy = shutil.which("py-spy") or str(Path.home() / ".local" / "bin" / "py-spy")
    options.peers = [PEERS[name] for name in PEER_CHOICES[options.peer]]
    return options


def main() -> None:
    """Run the matrix, print the table, the ratios and one JSON line."""
    options = parse_options()
    venvs = {"load", *(peer.venv for peer in options.peers)}
    pythons = ensure_venvs(options.shared, options.perf_root, venvs)
    harness = Harness(
        python=pythons["load"],
        script=options.shared / "mcp_load.py",
        duration=options.duration,
        warmup=options.warmup,
        timeout=options.timeout,
        cpus=None if options.no_pin else HARNESS_CPU,
        own_pids=[os.getpid()],  # every process started here descends from this one
    )
    started = time.monotonic()
    with contextlib.ExitStack() as exits:
        if options.out is not None:
            logs = options.out
            logs.mkdir(parents=True, exist_ok=True)
        else:
            logs = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="gateway-load-")))
        options.trace_sink = exits.enter_context(otlp_sink()) if options.export_traces else None
        with running_stack(options, logs, pythons) as (targets, children):
            rows, raw, skipped = run_cells(options, harness, targets, started)
            for child in children:
                if not child.alive():
                    print(f"!! {child.name} died during the run:\n{child.tail()}")
            if any(r.get("errors") or "failed" in r for r in rows):
                for child in children:
                    if child.name in ("gateway", "worker"):
                        print(f"--- last lines of {child.name}.log:\n{child.tail(20)}")
        notes = [f"- {t.name}: {t.notes}" for t in targets]
        if options.trace_sink is not None:
            notes.append(f"- the trace sink received {options.trace_sink.summary()}")
        if options.out is not None:
            with (logs / "results.jsonl").open("w") as out:
                out.writelines(json.dumps(r) + "\n" for r in raw)
    report(options, rows, notes, skipped, time.monotonic() - started)


if __name__ == "__main__":
    main()
