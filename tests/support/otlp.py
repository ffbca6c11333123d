"""Minimal OTLP/HTTP collectors on 127.0.0.1: what the services' log and metric export sends."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric


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


@dataclass
class MetricsCollector:
    """Where the collector listens and every export request it received."""

    endpoint: str
    requests: list[ExportMetricsServiceRequest] = field(default_factory=list)

    def metrics(self, name: str) -> list[Metric]:
        """Every exported metric called ``name``."""
        return [
            metric
            for request in list(self.requests)
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
        ]

    def service_names(self) -> set[str]:
        """The ``service.name`` of every resource that exported."""
        return {
            kv.value.string_value
            for request in list(self.requests)
            for resource in request.resource_metrics
            for kv in resource.resource.attributes
            if kv.key == "service.name"
        }


@contextlib.contextmanager
def logs_collector() -> Iterator[LogsCollector]:
    """Serve ``POST /v1/logs`` until the block ends."""
    collector = LogsCollector(endpoint="")
    with _serving(ExportLogsServiceRequest, collector.requests.append) as port:
        collector.endpoint = f"http://127.0.0.1:{port}/v1/logs"
        yield collector


@contextlib.contextmanager
def metrics_collector() -> Iterator[MetricsCollector]:
    """Serve ``POST /v1/metrics`` until the block ends."""
    collector = MetricsCollector(endpoint="")
    with _serving(ExportMetricsServiceRequest, collector.requests.append) as port:
        collector.endpoint = f"http://127.0.0.1:{port}/v1/metrics"
        yield collector


@contextlib.contextmanager
def _serving(kind: Callable[[], Any], received: Callable[[Any], None]) -> Iterator[int]:
    """Parse every POSTed body as a ``kind`` message and pass it to ``received``; yield the
    port."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = kind()
            request.ParseFromString(body)
            received(request)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
