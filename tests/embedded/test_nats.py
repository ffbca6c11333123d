"""Tests for stackmcp.embedded.nats against real nats-server processes."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeoutError

from stackmcp.embedded import NatsServer, ProcessStartError


async def test_core_publish_subscribe_round_trip(nats_server: NatsServer) -> None:
    """A message published on the embedded server reaches a subscriber."""
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    nc = await nats.connect(nats_server.url)
    try:
        sub = await nc.subscribe("embedded.hello")
        await nc.publish("embedded.hello", b"hi")
        async with asyncio.timeout(5):
            msg = await sub.next_msg(timeout=5)
        assert msg.data == b"hi"
    finally:
        await nc.close()


async def test_jetstream_stream_round_trip(nats_server: NatsServer) -> None:
    """JetStream is on: a stream stores a message and a durable consumer fetches and acks it."""
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="EMBEDDED_RT", subjects=["embedded.rt.>"])
        ack = await js.publish("embedded.rt.one", b"payload")
        assert ack.stream == "EMBEDDED_RT"
        psub = await js.pull_subscribe("embedded.rt.>", durable="rt")
        async with asyncio.timeout(5):
            [msg] = await psub.fetch(1, timeout=5)
        await msg.ack()
        assert msg.data == b"payload"
        await js.delete_stream("EMBEDDED_RT")
    finally:
        await nc.close()


def test_monitor_reports_healthy_jetstream(nats_server: NatsServer) -> None:
    """The monitor endpoint of the fixture server answers /healthz and /jsz."""
    assert nats_server.healthz(js_enabled_only=True)
    assert nats_server.monitor("jsz")["config"]["store_dir"].startswith(str(nats_server.store_dir))


def test_port_in_use_fails_fast_with_the_server_log(tmp_path: Path) -> None:
    """An explicit port that is taken gives a start error carrying nats-server's own message."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = NatsServer(tmp_path, port=port)
        with pytest.raises(ProcessStartError, match="address already in use") as excinfo:
            server.start(timeout=10)
    assert "nats-server" in str(excinfo.value)
    assert not server.is_running


async def test_cluster_message_published_on_a_reaches_subscriber_on_c(
    nats_cluster_servers: list[NatsServer],
) -> None:
    """In the 3-node cluster, a publish on node A is delivered to a subscriber on node C."""
    node_a, _, node_c = nats_cluster_servers
    nc_a = await nats.connect(node_a.url)
    nc_c = await nats.connect(node_c.url)
    try:
        sub = await nc_c.subscribe("cluster.hello")
        await nc_c.flush()
        async with asyncio.timeout(10):
            while True:  # interest propagates over the routes asynchronously
                await nc_a.publish("cluster.hello", b"from-a")
                try:
                    msg = await sub.next_msg(timeout=0.1)
                except NatsTimeoutError:
                    continue
                break
        assert msg.data == b"from-a"
    finally:
        await nc_a.close()
        await nc_c.close()


async def test_cluster_accepts_a_replicated_stream(nats_cluster_servers: list[NatsServer]) -> None:
    """The cluster has a JetStream meta leader: an R3 stream is created and readable from C."""
    nc_a = await nats.connect(nats_cluster_servers[0].url)
    nc_c = await nats.connect(nats_cluster_servers[2].url)
    try:
        async with asyncio.timeout(10):
            await nc_a.jetstream().add_stream(name="CLUSTER_R3", subjects=["r3.>"], num_replicas=3)
            await nc_a.jetstream().publish("r3.x", b"replicated")
            info = await nc_c.jetstream().stream_info("CLUSTER_R3")
        assert info.config.num_replicas == 3
        assert info.state.messages == 1
    finally:
        await nc_a.close()
        await nc_c.close()
