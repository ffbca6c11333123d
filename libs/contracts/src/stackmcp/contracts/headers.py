"""Names of NATS message headers stackmcp reads or writes."""

from __future__ import annotations

__all__ = [
    "MSG_ID",
    "PROGRESS",
    "SERVICE_ERROR",
    "SERVICE_ERROR_CODE",
    "TRACEPARENT",
    "TRACESTATE",
]

TRACEPARENT = "traceparent"
"""W3C trace context parent."""
TRACESTATE = "tracestate"
"""W3C trace context vendor state."""
SERVICE_ERROR = "Nats-Service-Error"
"""ADR-32 error description on a reply."""
SERVICE_ERROR_CODE = "Nats-Service-Error-Code"
"""ADR-32 numeric error code on a reply."""
MSG_ID = "Nats-Msg-Id"
"""JetStream de-duplication id on a published event."""
PROGRESS = "Stackmcp-Progress"
"""On a message to a reply subject: a progress beacon (``alive``), not the answer."""
