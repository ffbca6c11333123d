"""A minimal OTLP/HTTP logs collector on 127.0.0.1: what the services' log export sends."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest


@dataclass
class LogsCollector:
    """Where the collector listens and every export request it received."""

    endpoint: str
    requests: list[ExportLogsServiceRequest] = field(default_factory=list)

    def bodies(self) -> list[dict[str, Any]]:
        """The body of every log record received, as plain values (string fields only)."""
        out = []
        for request in list(self.requests):
            for resource in request.resource_logs:
                for scope in resource.scope_logs:
                    for record in scope.log_records:
                        values = record.body.kvlist_value.values
                        out.append({kv.key: kv.value.string_value for kv in values})
        return out


@contextlib.contextmanager
def logs_collector() -> Iterator[LogsCollector]:
    """Serve ``POST /v1/logs`` until the block ends."""
    collector = LogsCollector(endpoint="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportLogsServiceRequest()
            request.ParseFromString(body)
            collector.requests.append(request)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    collector.endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/logs"
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()
