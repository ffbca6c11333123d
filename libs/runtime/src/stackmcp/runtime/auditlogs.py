"""Audit records as OpenTelemetry log records, for an ops team's existing log backend.

Off unless ``OTEL_LOGS_EXPORTER`` names ``otlp`` (or ``console``): then every audit record a
service makes (tool calls in the gateway, admin changes in provisioning and expiry) also leaves
as one log record through the standard OTLP exporter, configured by the usual
``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``, headers and timeouts.
Export is batched on the SDK's own thread, so it never delays a call. The record's JSON fields
become the body; the few fields a backend filters on become attributes; ``trace_id`` links it to
the call's trace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import msgspec
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from stackmcp.contracts.audit import AdminChange, AuditRecord, ToolCallCompleted

__all__ = ["AuditLogExport", "emit_audit_log", "install_audit_logs", "setup_audit_logs"]

logger = logging.getLogger(__name__)

_SCOPE = "stackmcp.audit"
_installed: AuditLogExport | None = None


class AuditLogExport:
    """Turns audit records into log records on one :class:`LoggerProvider`."""

    def __init__(self, provider: LoggerProvider) -> None:
        self._provider = provider
        self._logger = provider.get_logger(_SCOPE)
        self._failed = False

    def emit(self, record: AuditRecord) -> None:
        """Emit ``record`` (never raises: an export problem is logged once)."""
        try:
            self._emit(record)
        except Exception as exc:  # whatever the SDK raises, a call must not notice
            if not self._failed:
                self._failed = True
                logger.warning("audit log export failed: %s", type(exc).__name__)

    def _emit(self, record: AuditRecord) -> None:
        body: dict[str, Any] = msgspec.to_builtins(record)
        event_name, attributes = _attributes(record)
        severity = SeverityNumber.INFO
        if isinstance(record, ToolCallCompleted) and record.outcome != "ok":
            severity = SeverityNumber.WARN
        self._logger.emit(
            timestamp=int(record.time.timestamp() * 1e9),
            context=_trace_context(record),
            severity_number=severity,
            severity_text=severity.name,
            body=body,
            attributes=attributes,
            event_name=event_name,
        )

    def shutdown(self) -> None:
        """Flush what is batched and stop the export thread."""
        self._provider.shutdown()


def _attributes(record: AuditRecord) -> tuple[str, dict[str, str]]:
    """The event name and the attributes a backend filters on."""
    if isinstance(record, ToolCallCompleted):
        attributes = {
            "event.name": "stackmcp.tool_call",
            "mcp.method.name": record.method,
            "stackmcp.account.id": record.account_id,
            "stackmcp.server.id": record.server_id,
            "stackmcp.outcome": record.outcome,
        }
        if record.tool:
            attributes["gen_ai.tool.name"] = record.tool
        if record.error_code:
            attributes["error.type"] = record.error_code
        if record.client_name:
            attributes["stackmcp.client.name"] = record.client_name
        return "stackmcp.tool_call", attributes
    assert isinstance(record, AdminChange)
    attributes = {
        "event.name": "stackmcp.admin_change",
        "stackmcp.operator": record.operator,
        "stackmcp.action": record.action,
    }
    if record.account_id:
        attributes["stackmcp.account.id"] = record.account_id
    if record.server_id:
        attributes["stackmcp.server.id"] = record.server_id
    return "stackmcp.admin_change", attributes


def _trace_context(record: AuditRecord) -> Any:
    trace_id = getattr(record, "trace_id", None)
    if not trace_id:
        return None
    try:
        span = SpanContext(
            trace_id=int(trace_id, 16),
            span_id=1,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    except ValueError:
        return None
    return set_span_in_context(NonRecordingSpan(span))


def setup_audit_logs(
    service_name: str,
    *,
    environ: Mapping[str, str] | None = None,
    processors: tuple[LogRecordProcessor, ...] = (),
) -> AuditLogExport | None:
    """The audit log export ``OTEL_LOGS_EXPORTER`` asks for, or ``None`` when it is off.

    Args:
        service_name: used when ``OTEL_SERVICE_NAME`` is not set.
        environ: variables to read (``os.environ`` when omitted).
        processors: extra processors (tests pass an in-memory exporter); given any, the export
            is on whatever the environment says.
    """
    env = os.environ if environ is None else environ
    exporters = {
        name.strip().lower() for name in env.get("OTEL_LOGS_EXPORTER", "").split(",") if name
    }
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        exporters.clear()
    if not exporters & {"otlp", "console"} and not processors:
        return None
    resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME", service_name)})
    provider = LoggerProvider(resource=resource)
    if "otlp" in exporters:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import (  # noqa: PLC0415
            OTLPLogExporter,
        )

        provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    if "console" in exporters:
        provider.add_log_record_processor(BatchLogRecordProcessor(ConsoleLogRecordExporter()))
    for processor in processors:
        provider.add_log_record_processor(processor)
    return AuditLogExport(provider)


def install_audit_logs(service_name: str) -> AuditLogExport | None:
    """Set up this process's export from the environment (once, in ``service_main``), so
    :func:`emit_audit_log` reaches it; ``None`` when ``OTEL_LOGS_EXPORTER`` leaves it off."""
    global _installed  # noqa: PLW0603 - one export per process, like OpenTelemetry's providers
    _installed = setup_audit_logs(service_name)
    return _installed


def emit_audit_log(record: AuditRecord) -> None:
    """Export ``record`` as a log record when the process installed an export; else nothing."""
    if _installed is not None:
        _installed.emit(record)
