"""The worker's reads of an account's policies and severities (the incident list's severity
and escalation step) are reused, and so are their failures: an upstream that refuses them
(a token without access, an outage) costs one failed request per 10 s, not two per call."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.worker import running_worker

pytestmark = pytest.mark.integration

INCIDENTS = {
    "data": [
        {"id": "11", "type": "incident", "attributes": {"name": "API down", "status": "Started"}}
    ],
    "pagination": {"first": None, "last": None, "prev": None, "next": None},
}


class _Upstream(BaseHTTPRequestHandler):
    """Incidents answer; everything else is 404, as an API without policies would."""

    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path.split("?", 1)[0])
        if self.path.startswith("/api/v3/incidents"):
            body, status = json.dumps(INCIDENTS).encode(), 200
        else:
            body, status = b'{"errors":"Resource not found"}', 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads ``paths``."""


@pytest.fixture
def upstream() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 and the paths it was asked for."""
    paths: list[str] = []
    handler = type("Handler", (_Upstream,), {"paths": paths})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()


async def test_failed_reference_reads_are_remembered(
    nats_url: str, redis_url: str, upstream: tuple[str, list[str]]
) -> None:
    base_url, paths = upstream
    async with running_worker(nats_url, redis_url, base_url=base_url, token="t") as worker:
        for _ in range(3):
            result = await worker.call("list_all_better_stack_incidents", {"limit": 5})
            assert not result.is_error, result.text
            assert [i["id"] for i in result.structured_value()["result"]] == ["11"]
    assert paths.count("/api/v3/incidents") == 3
    others = sorted(p for p in paths if p != "/api/v3/incidents")
    assert others == ["/api/v2/urgencies", "/api/v3/policies"]
