"""A CI guard for the ``tools/call`` hot path: fails on a large regression, never on a slow machine.

Two paths are timed, in process and without a socket or a server:

* **gateway** (one unit: a session ``tools/call`` and a stateless one): the JSON-RPC body is parsed
  (``parse_message``) and answered by :class:`McpCore` — the session found in the store's local
  copy, the stateless envelope checked — through the grant's view, the catalogue look-up, the
  call request, the audit record (built: a sink is attached), the span and the duration metric
  (recorded: the test process's meter provider is installed),
  down to ``McpMethods``' ``ToolRunner``; there the request is encoded for the wire and the
  worker's reply (made once) decoded off it; the reply (about 28 KB) is ``encode_result``'s.
* **worker** (one unit: one call's result shaping, :func:`worker_result`): the request decoded
  off the wire, a Better Stack JSON:API answer of 50 incidents decoded and flattened
  (``flatten_document``), its text and ``structuredContent`` encoded (``encoded_result``), the
  result encoded for the wire.

Each is measured as a RATIO to a reference operation timed in the same run, alternating with it
(:func:`reference_operation`: a fixed msgspec JSON encode + decode of a 22 KB ``tools/call``
result, then a pure-Python copy of its items). Each figure is the minimum, over many short
repetitions, of this thread's CPU time (``time.thread_time``): a process hogging the CPU stretches
wall time, not our CPU time, and the minimum drops the repetitions it disturbed anyway (cache
misses after a switch). The garbage collector is off while timing, as in ``timeit``.

A path fails only when its ratio exceeds ``ALLOWED_FACTOR`` times its baseline
(``GATEWAY_BASELINE``, ``WORKER_BASELINE``); an absolute time never decides anything. The
``test_the_guard_catches_*`` tests prove it can fail: they slow a hot function by a number of
reference operations (so by the same ratio on any machine) and expect the report.
"""

from __future__ import annotations

import asyncio
import gc
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from stackmcp.betterstack_worker.execution.executor import encoded_result
from stackmcp.betterstack_worker.normalise import flatten_document
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.tools import RateLimitInfo, ToolCallRequest, ToolCallResult
from stackmcp.gateway import core as gateway_core
from stackmcp.gateway.audit import AuditTrail
from stackmcp.gateway.core import Inbound, McpCore, Reply
from stackmcp.gateway.jsonrpc import parse_message
from stackmcp.gateway.mcp import McpMethods
from stackmcp.gateway.sessions import SessionStore
from tests.support.catalog import served_catalog
from tests.support.metrics import installed_metrics

GATEWAY_BASELINE = 4.0
"""CPU of one gateway unit over one reference operation.

Measured 2026-12-02 on the 2-core dev box shared with other agents' builds (load average about
11; Python 3.11.7, the locked msgspec and OpenTelemetry, gateway and worker as of commit
528c4bd): ``./bin/uv run pytest tests/perf -s`` printed 3.6-7.1, median 5.4, over 14 runs, 3 of
them next to two ``python3 -c 'while True: pass'`` hogs (3.6-5.3). (The duration histogram is
about a third of the path: without a meter provider the ratio was 3.4-4.6.) To update it after
a change that deliberately makes the path cheaper or costlier: run that command three times or
more and set the median printed ratio here (lower it after a speed-up, so the guard keeps its
reach). Lowered from 5.4 at commit 74c24c0 (a JSON-RPC result framed with one copy, a lean
text sent once): 3.65, 3.71 and 4.65 in three runs at load average about 10; 4.0 keeps the
spread of the runs above in reach."""

WORKER_BASELINE = 2.8
"""CPU of one worker unit over one reference operation; measured as ``GATEWAY_BASELINE``
(2.85-3.9, median 3.1, over 31 runs, 9 next to the hogs; lowered at 74c24c0, where three runs
printed 2.54, 2.76 and 2.83) and updated the same way."""

ALLOWED_FACTOR = 3.0
"""A path fails when its measured ratio exceeds its baseline times this."""

REFERENCES_PER_REP = 8
"""Reference operations per timed repetition."""
REPS = 40
"""Timed repetitions of each side; each figure is the minimum."""

TOOL = "list_all_better_stack_incidents"
SESSION_VERSION = "2025-11-25"
MODERN = "2026-07-28"
TOKEN_HASH = "guard-token-hash"
GRANT = Grant(
    server_id="srv_guard",
    account_id="acc_guard",
    name="hot path guard",
    methods=("read",),
    tags=("incidents",),
)


# --------------------------------------------------------------------------- the data


def _incident(i: int) -> dict[str, Any]:
    """One Better Stack incident as JSON:API (string ids, attributes, relationships)."""
    service = ("checkout-api", "payments", "search", "auth", "inventory")[i % 5]
    return {
        "id": str(900_000 + i),
        "type": "incident",
        "attributes": {
            "name": f"Elevated error rate on {service} (p99 > 2s)",
            "cause": f"Status 503 from {service}, expected 200",
            "started_at": f"2026-11-{(i % 28) + 1:02d}T{i % 24:02d}:{(i * 7) % 60:02d}:00.000Z",
            "acknowledged_at": None if i % 3 else "2026-11-30T10:00:00.000Z",
            "acknowledged_by": None if i % 3 else f"oncall-{i % 7}@example.com",
            "resolved_at": None,
            "resolved_by": None,
            "status": ("Started", "Acknowledged", "Resolved")[i % 3],
        },
        "relationships": {"monitor": {"data": {"id": str(100 + i % 5), "type": "monitor"}}},
    }


UPSTREAM_BODY = msgspec.json.encode({"data": [_incident(i) for i in range(1, 51)]})
"""The upstream answer the stand-in worker normalises (50 incidents, about 19 KB)."""

REFERENCE_DOCUMENT: dict[str, Any] = {
    "content": [{"type": "text", "text": UPSTREAM_BODY.decode()[:12_000]}],
    "structuredContent": {
        "result": [{"id": str(900_000 + i), **_incident(i)["attributes"]} for i in range(1, 31)],
        "next_cursor": None,
    },
    "isError": False,
}
"""A ``tools/call`` result of about 22 KB: the reference operation's document."""


def reference_operation() -> None:
    """The fixed unit of work the hot path is measured against: encode and decode
    ``REFERENCE_DOCUMENT`` (msgspec, C) and copy its items without ``None`` (pure Python)."""
    decoded = msgspec.json.decode(msgspec.json.encode(REFERENCE_DOCUMENT))
    kept = [
        {key: value for key, value in item.items() if value is not None}
        for item in decoded["structuredContent"]["result"]
    ]
    assert len(kept) == 30


# --------------------------------------------------------------------------- the hot path


_REQUEST_DECODER = msgspec.json.Decoder(ToolCallRequest)
_RESULT_DECODER = msgspec.json.Decoder(ToolCallResult)
_LIMITS = RateLimitInfo(limit=100, remaining=7, reset=30)


def worker_result(wire_request: bytes) -> bytes:
    """The worker's side of a list call without I/O: decode the request off the wire, decode
    and flatten the upstream answer, encode the text and ``structuredContent`` and the result
    for the wire."""
    request = _REQUEST_DECODER.decode(wire_request)
    assert request.tool == TOOL
    items = flatten_document(msgspec.json.decode(UPSTREAM_BODY))
    text, whole = encoded_result({"result": items, "next_cursor": None})
    result = ToolCallResult(
        text=text,
        structured=msgspec.Raw(whole),
        rate_limit=_LIMITS,
        upstream_status=200,
        untrusted=("name", "cause"),
    )
    return msgspec.json.encode(result)


class StandInWorker:
    """``McpMethods``' ``ToolRunner``: what the gateway does around a worker call (the request
    encoded for the wire, the reply decoded off it), the worker's answer made once."""

    def __init__(self) -> None:
        self.request = b""
        """The first call's request as it goes on the wire."""
        self._reply = b""

    async def run(self, call: ToolCallRequest, *, write: bool) -> ToolCallResult:
        """The worker's result for ``call``, as the gateway decodes it."""
        wire = msgspec.json.encode(call)
        if not self._reply:
            self.request, self._reply = wire, worker_result(wire)
        assert not write
        return _RESULT_DECODER.decode(self._reply)


class _LocalRedis:
    """Just enough Redis for :meth:`SessionStore.create` (later look-ups hit its local copy)."""

    def register_script(self, _script: str) -> Callable[..., Any]:
        async def script(**_: Any) -> list[bytes]:
            return []

        return script


def _body(request_id: int, *, stateless: bool) -> bytes:
    params: dict[str, Any] = {"name": TOOL, "arguments": {"limit": 50}}
    if stateless:
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    return msgspec.json.encode(message)


class HotPath:
    """An :class:`McpCore` with the real catalogue, audit and session store, and a stand-in
    worker (:meth:`gateway`), and the worker's result shaping (:meth:`worker`)."""

    def __init__(self) -> None:
        # The metrics recorded as in a service (and as after any test that reads /metrics:
        # OpenTelemetry keeps one provider per process), whatever ran before.
        installed_metrics()
        catalog = served_catalog()
        self.records = 0
        audit = AuditTrail([self._record])
        self.runner = StandInWorker()
        methods = McpMethods(catalog, self.runner, call_timeout=5, audit=audit)
        sessions = SessionStore(
            _LocalRedis(),  # type: ignore[arg-type]
            RedisKeys("guard"),
            None,  # type: ignore[arg-type]  # never used: no listener is started
            "guard.closed",
            ttl=600,
        )
        self.core = McpCore(methods, sessions)
        self.loop = asyncio.new_event_loop()
        session = self.loop.run_until_complete(
            sessions.create(
                TOKEN_HASH, GRANT.server_id, SESSION_VERSION, "streamable", client_name="guard"
            )
        )
        self.session_headers = {
            "mcp-session-id": session.id,
            "mcp-protocol-version": SESSION_VERSION,
        }
        self.stateless_headers = {
            "mcp-protocol-version": MODERN,
            "mcp-method": "tools/call",
            "mcp-name": TOOL,
        }
        self.session_body = _body(7, stateless=False)
        self.stateless_body = _body(8, stateless=True)
        self.replies(1)  # the stand-in worker's answer, the grant's view, the session's copy

    def _record(self, _record: object) -> None:
        self.records += 1

    async def _one(self, body: bytes, headers: dict[str, str]) -> Reply:
        inbound = Inbound(GRANT, TOKEN_HASH, parse_message(body), headers)
        return await self.core.post(inbound)

    async def _calls(self, n: int) -> list[Reply]:
        replies = []
        for _ in range(n):
            replies.append(await self._one(self.session_body, self.session_headers))
            replies.append(await self._one(self.stateless_body, self.stateless_headers))
        return replies

    def replies(self, n: int) -> list[Reply]:
        """``n`` session calls and ``n`` stateless calls answered by the gateway core."""
        return self.loop.run_until_complete(self._calls(n))

    def gateway(self, n: int) -> None:
        """``n`` units of the gateway's path: a session call and a stateless call each."""
        self.loop.run_until_complete(self._calls(n))

    def worker(self, n: int) -> None:
        """``n`` units of the worker's path: one call's result shaping each."""
        request = self.runner.request
        for _ in range(n):
            worker_result(request)

    def close(self) -> None:
        """Close the event loop."""
        self.loop.close()


# --------------------------------------------------------------------------- the guard


@dataclass(frozen=True)
class GuardedPath:
    """One guarded path: its baseline ratio and how many units one timed repetition runs."""

    name: str
    baseline: float
    units: int


PATHS = {
    "gateway": GuardedPath("gateway", GATEWAY_BASELINE, units=2),
    "worker": GuardedPath("worker", WORKER_BASELINE, units=2),
}


@dataclass(frozen=True)
class Measurement:
    """CPU seconds per unit of a path and per reference operation (each the minimum over the
    repetitions) and their ratio."""

    path: str
    unit: float
    reference: float

    @property
    def ratio(self) -> float:
        """Path unit over reference operation."""
        return self.unit / self.reference


def _cpu_seconds(work: Callable[[], object]) -> float:
    started = time.thread_time()
    work()
    return time.thread_time() - started


def measure(hot: HotPath, path: GuardedPath, *, reps: int = REPS) -> Measurement:
    """Time ``path.units`` units of ``path`` and ``REFERENCES_PER_REP`` reference operations,
    alternately, ``reps`` times each; the minimum of each side, per unit."""
    run = getattr(hot, path.name)

    def units() -> None:
        run(path.units)

    def references() -> None:
        for _ in range(REFERENCES_PER_REP):
            reference_operation()

    units()  # warm
    references()
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        unit_times, reference_times = [], []
        for _ in range(reps):
            unit_times.append(_cpu_seconds(units))
            reference_times.append(_cpu_seconds(references))
    finally:
        if enabled:
            gc.enable()
    return Measurement(
        path.name, min(unit_times) / path.units, min(reference_times) / REFERENCES_PER_REP
    )


def check(measured: Measurement, factor: float = ALLOWED_FACTOR) -> str | None:
    """Why ``measured`` is a large regression against its path's baseline, or ``None``."""
    baseline = PATHS[measured.path].baseline
    limit = baseline * factor
    if measured.ratio <= limit:
        return None
    return (
        f"the tools/call {measured.path} path costs {measured.ratio:.2f}x the reference "
        f"operation, over the limit {limit:.2f}x ({factor:g} x its baseline {baseline:.2f}x): "
        "a large regression (after a deliberate change, update its baseline as the module "
        "constants say)"
    )


@pytest.fixture(scope="module")
def hot_path() -> Iterator[HotPath]:
    path = HotPath()
    yield path
    path.close()


def test_the_hot_path_answers_what_it_is_timed_on(hot_path: HotPath) -> None:
    before = hot_path.records
    replies = hot_path.replies(1)
    assert [r.status for r in replies] == [200, 200]
    for reply in replies:
        result = msgspec.json.decode(reply.body)["result"]
        assert result["isError"] is False
        assert len(result["structuredContent"]["result"]) == 50
        assert '"900050"' in result["content"][0]["text"]
        assert 20_000 < len(reply.body) < 40_000
    assert hot_path.records == before + 2  # the audit records were built


@pytest.mark.parametrize("name", list(PATHS))
def test_the_hot_path_has_not_regressed(hot_path: HotPath, name: str) -> None:
    measured = measure(hot_path, PATHS[name])
    print(
        f"\n{name} path: {measured.unit * 1e6:.0f} us CPU per unit, reference "
        f"{measured.reference * 1e6:.1f} us: ratio {measured.ratio:.2f} (baseline "
        f"{PATHS[name].baseline}, limit {PATHS[name].baseline * ALLOWED_FACTOR:.1f})"
    )
    problem = check(measured)
    assert problem is None, problem


def _slow_down(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, by: int) -> None:
    """Make ``owner.name`` cost ``by`` reference operations more per call."""
    original = getattr(owner, name)

    def slowed(*args: Any, **kwargs: Any) -> Any:
        for _ in range(by):
            reference_operation()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, slowed)


def test_the_guard_catches_a_slowed_gateway(
    hot_path: HotPath, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's reply encoding made to cost twice the allowed ratio in reference
    operations (two replies per unit) must be reported, whatever the machine's speed."""
    extra = math.ceil(ALLOWED_FACTOR * GATEWAY_BASELINE)  # per reply: twice the limit per unit
    _slow_down(monkeypatch, gateway_core, "encode_result", extra)
    measured = measure(hot_path, GuardedPath("gateway", GATEWAY_BASELINE, units=1), reps=8)
    problem = check(measured)
    print(f"\nslowed gateway: ratio {measured.ratio:.2f}: {problem}")
    assert problem is not None, f"ratio {measured.ratio:.2f} was not reported"
    assert "large regression" in problem


def test_the_guard_catches_a_slowed_worker(
    hot_path: HotPath, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for the worker's flattening (once per unit)."""
    extra = math.ceil(2 * ALLOWED_FACTOR * WORKER_BASELINE)
    _slow_down(monkeypatch, sys.modules[__name__], "flatten_document", extra)
    measured = measure(hot_path, GuardedPath("worker", WORKER_BASELINE, units=1), reps=8)
    problem = check(measured)
    print(f"\nslowed worker: ratio {measured.ratio:.2f}")
    assert problem is not None, f"ratio {measured.ratio:.2f} was not reported"
