"""Audit records leave as OpenTelemetry log records only when ``OTEL_LOGS_EXPORTER`` asks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from stackmcp.contracts.audit import AdminChange, ToolCallCompleted
from stackmcp.runtime.auditlogs import setup_audit_logs
from tests.support.otlp import LogsCollector, logs_collector

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def _call(**overrides: object) -> ToolCallCompleted:
    fields: dict[str, object] = {
        "id": "e1",
        "time": datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
        "duration_ms": 12.5,
        "account_id": "acc_0000000000000001",
        "server_id": "srv_0000000000000001",
        "tool": "better_stack_incidents_acknowledge",
        "client_name": "claude-code",
        "outcome": "tool_error",
        "error_code": "upstream_error",
        "trace_id": TRACE_ID,
    }
    fields.update(overrides)
    return ToolCallCompleted(**fields)  # type: ignore[arg-type]


def test_off_unless_the_logs_exporter_is_named() -> None:
    assert setup_audit_logs("svc", environ={}) is None
    assert setup_audit_logs("svc", environ={"OTEL_LOGS_EXPORTER": "none"}) is None
    disabled = {"OTEL_LOGS_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}
    assert setup_audit_logs("svc", environ=disabled) is None


def test_records_become_log_records_linked_to_their_trace() -> None:
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    export = setup_audit_logs("svc", environ={}, processors=(SimpleLogRecordProcessor(memory),))
    assert export is not None
    export.emit(_call())
    export.emit(
        AdminChange(
            id="e2",
            time=datetime(2026, 12, 2, 8, 1, tzinfo=UTC),
            operator="alice",
            action="mcp_server.revoked",
            account_id="acc_0000000000000001",
            server_id="srv_0000000000000001",
        )
    )
    call, change = (item.log_record for item in memory.get_finished_logs())
    assert call.event_name == "stackmcp.tool_call"
    assert call.severity_text == "WARN"
    assert f"{call.trace_id:032x}" == TRACE_ID
    assert call.attributes is not None
    assert call.attributes["gen_ai.tool.name"] == "better_stack_incidents_acknowledge"
    assert call.attributes["error.type"] == "upstream_error"
    assert isinstance(call.body, dict)
    assert call.body["id"] == "e1"
    assert call.body["decision"] is None  # every field present, as in the stream
    assert change.event_name == "stackmcp.admin_change"
    assert change.attributes is not None
    assert change.attributes["stackmcp.operator"] == "alice"
    assert change.severity_text == "INFO"
    export.shutdown()


@pytest.fixture
def collector() -> Iterator[LogsCollector]:
    with logs_collector() as running:
        yield running


async def test_otlp_export_reaches_a_collector(
    collector: LogsCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, received = collector.endpoint, collector.requests
    environ = {"OTEL_LOGS_EXPORTER": "otlp", "OTEL_SERVICE_NAME": "stackmcp-gateway"}
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", endpoint)  # read by the exporter
    export = setup_audit_logs("svc", environ=environ)
    assert export is not None
    export.emit(_call(id="otlp-1", outcome="ok", error_code=None))
    await asyncio.to_thread(export.shutdown)  # flushes the batch
    records = [
        record
        for request in received
        for resource in request.resource_logs
        for scope in resource.scope_logs
        for record in scope.log_records
    ]
    assert len(records) == 1
    body = {kv.key: kv.value for kv in records[0].body.kvlist_value.values}
    assert body["id"].string_value == "otlp-1"
    assert records[0].trace_id.hex() == TRACE_ID
    resource = received[0].resource_logs[0].resource
    service = {kv.key: kv.value.string_value for kv in resource.attributes}
    assert service["service.name"] == "stackmcp-gateway"
