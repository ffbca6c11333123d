"""Request/reply over a real nats-server: typed messages, trace context, error mapping."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import nats
import pytest
from nats.aio.client import Client
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from stackmcp.contracts import CatalogRequest, CatalogResponse, Subjects
from stackmcp.contracts.tokens import SERVER_TOKEN_PREFIX, new_token
from stackmcp.embedded import NatsServer
from stackmcp.runtime.config import NatsConfig
from stackmcp.runtime.errors import (
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from stackmcp.runtime.natsx import Endpoint, connect, drain, request

pytestmark = pytest.mark.integration

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def tracing() -> Iterator[InMemorySpanExporter]:
    """Record spans in memory (the global provider can be set once per process)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    return _EXPORTER


@pytest.fixture
async def nc(nats_server: Any) -> AsyncIterator[Client]:
    """A client connected through the runtime's connect()."""
    client = await connect(NatsConfig(url=nats_server.url), "test")
    yield client
    await client.drain()


async def _echo_version(req: CatalogRequest) -> CatalogResponse:
    if req.known_version == "missing":
        raise NotFound("no catalogue with that version")
    if req.known_version == "boom":
        raise RuntimeError(f"leaky internals {new_token(SERVER_TOKEN_PREFIX)}")
    return CatalogResponse(version=req.known_version.upper())


async def test_round_trip_carries_trace_context_to_the_server_span(nc: Client) -> None:
    """The SERVER span continues the CLIENT span's trace via NATS headers."""
    subjects = Subjects("t1")
    seen_headers: list[dict[str, str]] = []
    spy = await nc.subscribe(subjects.catalog_get, cb=functools.partial(_record, seen_headers))
    endpoint = Endpoint(nc, subjects.catalog_get, "q", CatalogRequest, _echo_version)
    await endpoint.start()
    _EXPORTER.clear()
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("caller") as parent:
        reply = await request(
            nc,
            subjects.catalog_get,
            CatalogRequest(known_version="abc"),
            CatalogResponse,
            timeout=5,
        )
    await endpoint.drain()
    await spy.unsubscribe()
    assert reply == CatalogResponse(version="ABC")
    trace_id = parent.get_span_context().trace_id
    assert seen_headers
    assert seen_headers[0]["traceparent"].split("-")[1] == format(trace_id, "032x")
    spans = {s.kind: s for s in _EXPORTER.get_finished_spans() if s.name.endswith("catalog.get")}
    client, server = spans[SpanKind.CLIENT], spans[SpanKind.SERVER]
    assert _ctx(server).trace_id == _ctx(client).trace_id == trace_id
    assert server.parent is not None
    assert server.parent.span_id == _ctx(client).span_id
    assert server.attributes is not None
    assert server.attributes["messaging.destination.name"] == subjects.catalog_get


async def _record(store: list[dict[str, str]], msg: Any) -> None:
    store.append(dict(msg.headers or {}))


def _ctx(span: ReadableSpan) -> Any:
    context = span.get_span_context()
    assert context is not None
    return context


async def test_errors_cross_the_wire_as_typed_exceptions(nc: Client) -> None:
    """Expected errors keep their class and message; bugs become a generic internal error."""
    subject = Subjects("t2").catalog_get
    endpoint = Endpoint(nc, subject, "q", CatalogRequest, _echo_version)
    await endpoint.start()
    with pytest.raises(NotFound, match=r"^no catalogue with that version$"):
        await request(
            nc, subject, CatalogRequest(known_version="missing"), CatalogResponse, timeout=5
        )
    with pytest.raises(Internal) as info:
        await request(nc, subject, CatalogRequest(known_version="boom"), CatalogResponse, timeout=5)
    assert str(info.value) == "internal error"
    raw = await nc.request(
        subject, b'{"type":"stackmcp.catalog.v1.request","known_version":7}', timeout=5
    )
    assert raw.headers is not None
    assert raw.headers["Nats-Service-Error-Code"] == "400"
    assert msgspec.json.decode(raw.data)["code"] == "invalid_argument"
    with pytest.raises(InvalidArgument):
        await request(
            nc, subject, CatalogResponse(version="wrong type"), CatalogResponse, timeout=5
        )
    await endpoint.drain()


async def test_no_responders_and_timeouts_are_distinguished(nc: Client) -> None:
    """Nobody listening is Unavailable; a silent listener is DeadlineExceeded."""
    subjects = Subjects("t3")
    with pytest.raises(Unavailable, match="no service is answering"):
        await request(nc, subjects.tool_call, CatalogRequest(), CatalogResponse, timeout=2)
    silent = await nc.subscribe(subjects.catalog_get)
    with pytest.raises(DeadlineExceeded):
        await request(nc, subjects.catalog_get, CatalogRequest(), CatalogResponse, timeout=0.3)
    await silent.unsubscribe()


async def test_queue_group_spreads_requests_and_drain_finishes_in_flight(nc: Client) -> None:
    """Two replicas share a queue group; drain waits for a request being handled."""
    subject = Subjects("t4").catalog_get
    started, release = asyncio.Event(), asyncio.Event()
    served: list[str] = []

    async def slow(req: CatalogRequest) -> CatalogResponse:
        served.append(req.known_version)
        if req.known_version == "slow":
            started.set()
            await release.wait()
        return CatalogResponse(version=req.known_version)

    replicas = [Endpoint(nc, subject, "q", CatalogRequest, slow) for _ in range(2)]
    for replica in replicas:
        await replica.start()
    pending = asyncio.create_task(
        request(nc, subject, CatalogRequest(known_version="slow"), CatalogResponse, timeout=5)
    )
    async with asyncio.timeout(5):
        await started.wait()
    drains = [asyncio.create_task(r.drain()) for r in replicas]
    release.set()
    assert (await pending).version == "slow"
    await asyncio.gather(*drains)
    assert served == ["slow"]


async def test_connect_waits_for_a_server_until_stopped() -> None:
    """The first connection is retried until stop is set, then Unavailable is raised."""
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, stop.set)
    with pytest.raises(Unavailable):
        async with asyncio.timeout(10):
            await connect(NatsConfig(url="nats://127.0.0.1:1"), "test", stop=stop)


async def test_plain_nats_client_sees_json_with_type_tag(nats_server: Any) -> None:
    """Messages are readable JSON with their versioned type tag (nats sub/req friendly)."""
    client = await nats.connect(nats_server.url)
    sub = await client.subscribe("t5.x")
    await client.publish("t5.x", msgspec.json.encode(CatalogRequest(known_version="v")))
    msg = await sub.next_msg(timeout=5)
    assert msgspec.json.decode(msg.data) == {
        "type": "stackmcp.catalog.v1.request",
        "known_version": "v",
    }
    await client.drain()


async def test_own_drain_is_not_reported_as_a_lost_connection(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Draining on shutdown closes the connection on purpose: no "disconnected" warning."""
    nc = await connect(NatsConfig(url=nats_url), "drain-test")
    with caplog.at_level(logging.DEBUG, logger="stackmcp.runtime.natsx"):
        await nc.drain()
    messages = [r.getMessage() for r in caplog.records if r.name == "stackmcp.runtime.natsx"]
    assert "nats connection closed" in messages
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_drain_during_a_reconnect_closes_cleanly(tmp_path: Any) -> None:
    """A stop that arrives while the client is reconnecting (its node died) must not fail the
    shutdown: nats-py refuses to drain then, so the client is closed instead."""
    server = NatsServer(tmp_path / "nats").start()
    client = await connect(NatsConfig(url=server.url), "drain-test")
    server.stop()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not client.is_reconnecting:
        assert loop.time() < deadline, "the client never noticed its server was gone"
        await asyncio.sleep(0.02)
    await drain(client)
    assert client.is_closed
