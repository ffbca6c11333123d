"""The audit trail's gateway side: one :class:`ToolCallCompleted` per ``tools/call``.

Records are built in one place: :class:`AuditTrail` starts a :class:`CallAudit` when a call (or
a refused request of a known MCP server) begins, and the call ends it exactly once with an
outcome. The trail then hands the finished record to its sinks — the JetStream publisher and the
usage counters — which only queue it: nothing here waits on the network, so auditing never
delays or fails a call.

Arguments are recorded as :func:`redact_arguments` makes them: values under names that suggest
a secret are replaced, every string is passed through :func:`stackmcp.runtime.redaction.redact`
and cut to :data:`MAX_STRING` characters, and depth and container sizes are bounded.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from stackmcp.contracts.audit import Decision, Outcome, RefusalCode, ToolCallCompleted
from stackmcp.contracts.tools import RateLimitInfo, ToolCallResult
from stackmcp.runtime.redaction import REDACTED, redact

__all__ = [
    "CLIENT_INFO_META",
    "MAX_CLIENT_FIELD",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_STRING",
    "AuditTrail",
    "CallAudit",
    "ClientInfo",
    "RecordSink",
    "client_info",
    "meta_client_info",
    "redact_arguments",
]

logger = logging.getLogger(__name__)

CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo"
"""Where a 2026-07-28 request carries its ``clientInfo`` (in ``params._meta``)."""
MAX_STRING = 200
"""Longest string kept in recorded arguments (longer ones end in ``…``)."""
MAX_DEPTH = 5
"""Nesting levels of recorded arguments; deeper values become :data:`TOO_DEEP`."""
MAX_ITEMS = 50
"""Items kept per object or array of recorded arguments; the rest are summarised."""
MAX_CLIENT_FIELD = 100
"""Longest client name or version kept."""
TOO_DEEP = "[…]"
MORE_KEY = "…"

_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|apikey|authoriz|auth(?!or)|credential|cookie|"
    r"private[_-]?key|session[_-]?key|signature|bearer",
    re.IGNORECASE,
)

RecordSink = Callable[[ToolCallCompleted], None]
"""Takes a finished record without waiting (a queue, a counter)."""


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The calling MCP client as it named itself (``clientInfo``), cut to a safe length."""

    name: str | None = None
    version: str | None = None


NO_CLIENT = ClientInfo()


def _clip(value: object) -> str | None:
    return redact(value[:MAX_CLIENT_FIELD]) if isinstance(value, str) else None


def client_info(info: object) -> ClientInfo:
    """A ``clientInfo`` object (``initialize`` params or ``_meta``) as a :class:`ClientInfo`."""
    if not isinstance(info, dict):
        return NO_CLIENT
    return ClientInfo(_clip(info.get("name")), _clip(info.get("version")))


def meta_client_info(params: Mapping[str, Any] | None) -> ClientInfo:
    """The client info a stateless (2026-07-28) request carries in ``params._meta``."""
    meta = (params or {}).get("_meta")
    if not isinstance(meta, dict):
        return NO_CLIENT
    return client_info(meta.get(CLIENT_INFO_META))


def redact_arguments(arguments: object) -> dict[str, Any] | None:
    """Tool-call arguments fit for the audit trail (no secrets, bounded size).

    ``None`` stays ``None``; a non-object is recorded under ``"_"``.
    """
    if arguments is None:
        return None
    if not isinstance(arguments, dict):
        return {"_": _value(arguments, 1)}
    return _object(arguments, 1)


def _object(value: dict[Any, Any], depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, (key, item) in enumerate(value.items()):
        if index == MAX_ITEMS:
            out[MORE_KEY] = f"{len(value) - MAX_ITEMS} more"
            break
        name, secret = _key(str(key))
        out[name] = REDACTED if secret else _value(item, depth + 1)
    return out


@functools.lru_cache(maxsize=4096)
def _key(key: str) -> tuple[str, bool]:
    """A key as recorded, and whether its value is a secret (cached: tools reuse few names)."""
    name = _string(key)
    return name, _SECRET_NAME.search(name) is not None


def _value(value: object, depth: int) -> Any:
    if isinstance(value, str):
        return _string(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth > MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return _object(value, depth)
    if isinstance(value, list | tuple):
        items = [_value(item, depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"{len(value) - MAX_ITEMS} more")
        return items
    return _string(repr(value))


def _string(text: str) -> str:
    text = redact(text)  # before cutting: a cut token would no longer be recognised
    return text if len(text) <= MAX_STRING else text[:MAX_STRING] + "…"


def _trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


@dataclass(slots=True)
class CallAudit:
    """One call being recorded; ended exactly once by :meth:`result`, :meth:`tool_error`,
    :meth:`refused` or :meth:`protocol_error` (later endings are ignored)."""

    trail: AuditTrail
    account_id: str
    server_id: str
    server_name: str
    started: float
    method: str
    tool: str | None = None
    arguments: object = None
    session_id: str | None = None
    client: ClientInfo = NO_CLIENT
    protocol_version: str | None = None
    decision: Decision | None = None
    """What the confirmation step decided, set before the call ends."""
    outcome: Outcome | None = None
    """How the call ended (``None`` until it has)."""

    def result(self, result: ToolCallResult) -> None:
        """The worker's result: ``ok``, or ``tool_error`` for an ``isError`` result."""
        if not result.is_error:
            self.end("ok", None, result.upstream_status, result.rate_limit)
            return
        code = str(result.error.code) if result.error is not None else None
        self.end("tool_error", code, result.upstream_status, result.rate_limit)

    def tool_error(self, code: str) -> None:
        """The call failed and the client got an ``isError`` result saying so."""
        self.end("tool_error", code)

    def refused(self, code: RefusalCode, ratelimit: RateLimitInfo | None = None) -> None:
        """The call never ran (expired, revoked, API token, hidden tool, rate limit)."""
        self.end("refused", code, ratelimit=ratelimit)

    def protocol_error(self, code: str) -> None:
        """The client got a JSON-RPC error (``unknown_tool``, ``invalid_params``, …)."""
        self.end("protocol_error", code)

    def end(
        self,
        outcome: Outcome,
        error_code: str | None,
        upstream_status: int | None = None,
        ratelimit: RateLimitInfo | None = None,
    ) -> None:
        """Finish the record and hand it to the trail (once)."""
        if self.outcome is not None:
            return
        self.outcome = outcome
        self.trail.emit(self, outcome, error_code, upstream_status, ratelimit)


class AuditTrail:
    """Builds audit records and hands them to ``sinks`` (none: records are not even built).

    Args:
        sinks: callables taking each finished record without waiting.
        clock: wall clock of the record's ``time``.
        monotonic: the clock ``duration_ms`` is measured with.
    """

    def __init__(
        self,
        sinks: Sequence[RecordSink] = (),
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._sinks = tuple(sinks)
        self._failed: set[int] = set()
        self._clock = clock
        self.monotonic = monotonic

    @property
    def enabled(self) -> bool:
        """Whether records go anywhere."""
        return bool(self._sinks)

    def begin(
        self,
        *,
        account_id: str,
        server_id: str,
        server_name: str = "",
        method: str = "tools/call",
        tool: str | None = None,
        arguments: object = None,
        session_id: str | None = None,
        client: ClientInfo = NO_CLIENT,
        protocol_version: str | None = None,
        started: float | None = None,
    ) -> CallAudit:
        """Start recording one call (``started``: a :attr:`monotonic` time, default now)."""
        return CallAudit(
            trail=self,
            account_id=account_id,
            server_id=server_id,
            server_name=server_name,
            started=self.monotonic() if started is None else started,
            method=method,
            tool=tool if tool is None else tool[:MAX_STRING],
            arguments=arguments,
            session_id=session_id,
            client=client,
            protocol_version=protocol_version,
        )

    def emit(
        self,
        call: CallAudit,
        outcome: Outcome,
        error_code: str | None,
        upstream_status: int | None,
        ratelimit: RateLimitInfo | None,
    ) -> None:
        """Build the record of ``call`` and give it to every sink (a failing sink is logged
        once)."""
        if not self._sinks:
            return
        record = ToolCallCompleted(
            id=uuid.uuid4().hex,
            time=self._clock(),
            duration_ms=round((self.monotonic() - call.started) * 1000, 3),
            account_id=call.account_id,
            server_id=call.server_id,
            server_name=call.server_name,
            session_id=call.session_id,
            client_name=call.client.name,
            client_version=call.client.version,
            protocol_version=call.protocol_version,
            method=call.method[:MAX_STRING],
            tool=call.tool,
            arguments=redact_arguments(call.arguments),
            outcome=outcome,
            error_code=error_code,
            upstream_status=upstream_status,
            ratelimit=ratelimit,
            trace_id=_trace_id(),
            decision=call.decision,
        )
        for index, sink in enumerate(self._sinks):
            try:
                sink(record)
            except Exception as exc:  # a sink (e.g. someone's exporter) must never break a call
                if index not in self._failed:  # once per sink: a broken sink fails every call
                    self._failed.add(index)
                    why = type(exc).__name__
                    logger.error("audit sink %d failed (logged once): %s", index, why)
