"""A stand-in OpenTelemetry collector for the bench: an OTLP/HTTP endpoint on 127.0.0.1 that
accepts trace exports and counts them (requests, bytes, spans), so a run can measure what
exporting spans costs the services without a collector's own CPU in the figures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["SinkCounts", "otlp_sink"]


@dataclass
class SinkCounts:
    """What the sink received."""

    url: str
    """The endpoint to export to (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)."""
    requests: int = 0
    bytes: int = 0
    spans: int = 0
    malformed: int = 0

    def summary(self) -> str:
        """One line for the bench's notes."""
        text = f"{self.spans} spans in {self.requests} OTLP requests ({self.bytes} bytes)"
        return text + (f", {self.malformed} unreadable" if self.malformed else "")


def _count_spans(body: bytes) -> int:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return sum(
        len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans
    )


@contextmanager
def otlp_sink() -> Iterator[SinkCounts]:
    """Serve ``/v1/traces`` on a free port of 127.0.0.1 while the block runs."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                spans, bad = _count_spans(body), 0
            except DecodeError:
                spans, bad = 0, 1
            with lock:
                counts.requests += 1
                counts.bytes += len(body)
                counts.spans += spans
                counts.malformed += bad
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the counts are the report."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    counts = SinkCounts(url=f"http://127.0.0.1:{server.server_address[1]}/v1/traces")
    thread = threading.Thread(target=server.serve_forever, name="otlp-sink", daemon=True)
    thread.start()
    try:
        yield counts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
