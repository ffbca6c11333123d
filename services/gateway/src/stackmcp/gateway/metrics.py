"""The gateway's metrics: every instrument in one place, one call per thing observed.

Names, kinds and attributes follow the metric catalogue (MCP and HTTP semantic conventions plus
``stackmcp.*``); the SDK behind them is set up by :mod:`stackmcp.runtime.metrics`. The hot path
records through the functions below: histograms reuse one attribute dict per combination of
values, counts are :class:`~stackmcp.runtime.metrics.Tally` updates.

Attributes stay low-cardinality: a value a client chose freely never becomes one. A method the
gateway does not answer is recorded as ``_OTHER``; a tool is named only when it produced a
result (a JSON-RPC error may name a tool the client made up) or, in :class:`ToolCallCounter`,
when the catalogue has it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from stackmcp.contracts.audit import ToolCallCompleted
from stackmcp.runtime.metrics import Tally

__all__ = [
    "ToolCallCounter",
    "deadline_exceeded",
    "http_request",
    "looked_up",
    "oauth",
    "observe",
    "operation",
    "rerouted",
    "session_ended",
    "sse_stream",
    "worker_attempt",
]

Attributes = dict[str, str | int]
LiveSessions = Callable[[], Mapping[str, int]]
"""Sessions this replica holds, by transport."""
AuditCounters = Callable[[], Mapping[str, int]]
"""The audit publisher's ``published``, ``dropped`` and ``buffered`` counts."""

_meter = metrics.get_meter("stackmcp.gateway")
_operations = _meter.create_histogram(
    "mcp.server.operation.duration", unit="s", description="MCP requests answered"
)
_sessions = _meter.create_histogram(
    "mcp.server.session.duration", unit="s", description="MCP sessions ended on this replica"
)
_http = _meter.create_histogram(
    "http.server.request.duration", unit="s", description="HTTP requests to the MCP routes"
)
_attempts = _meter.create_histogram(
    "stackmcp.worker.request.duration", unit="s", description="Attempts of tool calls on workers"
)
_tool_calls: Tally[tuple[str | None, str, str | None]] = Tally(
    _meter,
    "stackmcp.tool_calls",
    lambda key: _tool_call_of(*key),
    unit="{call}",
    description="tools/call requests, by outcome",
)
_lookups: Tally[tuple[str, str]] = Tally(
    _meter,
    "stackmcp.cache.lookups",
    lambda key: {"stackmcp.cache": key[0], "stackmcp.result": key[1]},
    unit="{lookup}",
    description="Lookups in the in-process caches",
)
_sse_streams: Tally[str] = Tally(
    _meter,
    "stackmcp.sse.streams",
    lambda kind: {"stackmcp.stream": kind},
    unit="{stream}",
    description="Open SSE streams: 2024-11-05 HTTP+SSE (legacy) and session GET streams (session)",
    up_down=True,
)
_oauth: Tally[tuple[str, str]] = Tally(
    _meter,
    "stackmcp.oauth.requests",
    lambda key: {"stackmcp.oauth.step": key[0], "stackmcp.result": key[1]},
    unit="{request}",
    description="OAuth sign-in requests, by step and result",
)
_reroutes: Tally[str] = Tally(
    _meter,
    "stackmcp.worker.reroutes",
    lambda reason: {"stackmcp.reason": reason},
    unit="{call}",
    description="Calls moved off a lost worker",
)
_deadlines: Tally[str] = Tally(
    _meter,
    "stackmcp.deadline.exceeded",
    lambda result: {"stackmcp.result": result},
    unit="{call}",
    description="Tool calls out of time",
)

_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "prompts/get",
        "prompts/list",
        "server/discover",
        "tools/call",
        "tools/list",
    }
)
_RESULTS = frozenset({None, "tool_error", "refused"})
"""``error.type`` values of requests that got a result (the tool exists)."""

_operation_attributes: dict[tuple[str, str | None, str, str | None], Attributes] = {}
_session_attributes: dict[tuple[str, str], Attributes] = {}
_http_attributes: dict[tuple[str, str, int], Attributes] = {}
_OUTCOMES = {name: {"stackmcp.outcome": name} for name in ("ok", "silent", "gone", "late", "error")}
_sources: dict[str, Callable[[], Mapping[str, int]]] = {}


def operation(
    method: str, tool: str | None, version: str, error_type: str | None, seconds: float
) -> None:
    """One JSON-RPC request answered (``error_type``: ``None`` on success)."""
    if method not in _METHODS:
        method, tool = "_OTHER", None
    elif error_type not in _RESULTS:
        tool = None
    key = (method, tool, version, error_type)
    attributes = _operation_attributes.get(key)
    if attributes is None:
        attributes = _operation_attributes[key] = _operation_of(*key)
    _operations.record(seconds, attributes)


def _operation_of(
    method: str, tool: str | None, version: str, error_type: str | None
) -> Attributes:
    attributes: Attributes = {"mcp.method.name": method, "mcp.protocol.version": version}
    if tool is not None:
        attributes["gen_ai.tool.name"] = tool
    if error_type is not None:
        attributes["error.type"] = error_type
    return attributes


def session_ended(version: str, transport: str, seconds: float) -> None:
    """A session ended on this replica after ``seconds``."""
    key = (version, transport)
    attributes = _session_attributes.get(key)
    if attributes is None:
        attributes = _session_attributes[key] = {
            "mcp.protocol.version": version,
            "stackmcp.transport": transport,
        }
    _sessions.record(seconds, attributes)


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    """One HTTP request to an MCP route (``route``: the template, never the path)."""
    key = (method, route, status)
    attributes = _http_attributes.get(key)
    if attributes is None:
        attributes = _http_attributes[key] = {
            "http.request.method": method,
            "http.route": route,
            "http.response.status_code": status,
        }
    _http.record(seconds, attributes)


def looked_up(cache: str, *, hit: bool) -> None:
    """One lookup in the ``grant``, ``session`` or ``api_token`` cache."""
    _lookups.add((cache, "hit" if hit else "miss"))


def sse_stream(opened: bool, *, legacy: bool) -> None:
    """An SSE stream opened (``True``) or closed: a 2024-11-05 HTTP+SSE stream (``legacy``) or
    a session's GET stream."""
    _sse_streams.add("legacy" if legacy else "session", 1 if opened else -1)


_OAUTH_RESULTS = frozenset(
    {
        "ok",
        "allowed",
        "denied",
        "wrong_api_token",
        "refused",
        "unavailable",
        "invalid_request",
        "invalid_client",
        "invalid_client_metadata",
        "invalid_redirect_uri",
        "invalid_grant",
        "invalid_scope",
        "invalid_target",
        "unauthorized_client",
        "unsupported_grant_type",
        "unsupported_response_type",
    }
)


def oauth(step: str, result: str) -> None:
    """One OAuth request: ``step`` is ``register``, ``authorize``, ``consent`` or ``token``;
    ``result`` ``ok``, ``allowed``/``denied`` (consent), ``wrong_api_token``, ``refused``,
    ``unavailable`` or an RFC 6749 / 7591 error code (anything else counts as ``refused``)."""
    _oauth.add((step, result if result in _OAUTH_RESULTS else "refused"))


def worker_attempt(outcome: str, seconds: float) -> None:
    """One attempt of a tool call on a worker: ``ok``, ``silent``, ``gone``, ``late``, ``error``."""
    _attempts.record(seconds, _OUTCOMES[outcome])


def rerouted(reason: str) -> None:
    """A call moved on from a ``silent`` or ``gone`` worker."""
    _reroutes.add(reason)


def deadline_exceeded(result: str) -> None:
    """A tool call ran out of time: ``read_timed_out``, ``write_not_run``, ``write_late`` or
    ``write_uncertain``."""
    _deadlines.add(result)


class ToolCallCounter:
    """An audit-trail sink counting ``stackmcp.tool_calls``, one per record.

    Args:
        known: whether the catalogue has a tool (any other name is left out of the attributes).
    """

    def __init__(self, known: Callable[[str], bool]) -> None:
        self._known = known

    def __call__(self, record: ToolCallCompleted) -> None:
        """Count ``record``."""
        tool = record.tool if record.tool is not None and self._known(record.tool) else None
        _tool_calls.add((tool, record.outcome, record.error_code))


def _tool_call_of(tool: str | None, outcome: str, error_code: str | None) -> Attributes:
    attributes: Attributes = {"stackmcp.outcome": outcome}
    if tool is not None:
        attributes["gen_ai.tool.name"] = tool
    if error_code is not None:
        attributes["error.type"] = error_code
    return attributes


def observe(*, sessions: LiveSessions, audit: AuditCounters) -> None:
    """Report this replica's live sessions and audit counters at each collection (the
    gateway's wiring calls this once; a later call replaces the sources)."""
    _sources["sessions"] = sessions
    _sources["audit"] = audit


def _live_sessions(_: CallbackOptions) -> Iterable[Observation]:
    source = _sources.get("sessions")
    counts = source() if source is not None else {}
    return [Observation(n, {"stackmcp.transport": t}) for t, n in counts.items()]


def _audit_records(_: CallbackOptions) -> Iterable[Observation]:
    source = _sources.get("audit")
    if source is None:
        return []
    counts = source()
    return [Observation(counts[r], {"stackmcp.result": r}) for r in ("published", "dropped")]


def _audit_buffered(_: CallbackOptions) -> Iterable[Observation]:
    source = _sources.get("audit")
    return [Observation(source()["buffered"])] if source is not None else []


_meter.create_observable_gauge(
    "stackmcp.sessions.live",
    [_live_sessions],
    unit="{session}",
    description="Sessions this replica served within the idle TTL",
)
_meter.create_observable_counter(
    "stackmcp.audit.records",
    [_audit_records],
    unit="{record}",
    description="Audit records published to or dropped before JetStream",
)
_meter.create_observable_gauge(
    "stackmcp.audit.buffered",
    [_audit_buffered],
    unit="{record}",
    description="Audit records waiting to be published",
)
