"""The events stream's replica count follows ``STACKMCP_NATS_STREAM_REPLICAS`` on a real cluster."""

from __future__ import annotations

import asyncio
import secrets
import time

import nats
import nats.js.errors
import pytest
from nats.js import JetStreamContext

from stackmcp.contracts.subjects import Subjects
from stackmcp.embedded import NatsServer
from stackmcp.runtime.config import NatsConfig, load_section
from stackmcp.runtime.errors import Unavailable
from stackmcp.runtime.events import ensure_events_stream


def _subjects() -> Subjects:
    return Subjects(f"ev{secrets.token_hex(4)}")


async def _publish_once_placed(js: JetStreamContext, subject: str, data: bytes) -> None:
    """Publish as soon as the new stream answers: on a cluster its placement on a server can
    trail its creation by a moment (a loaded machine showed "no response from stream")."""
    deadline = time.monotonic() + 10
    while True:
        try:
            await js.publish(subject, data)
            return
        except nats.js.errors.NoStreamResponseError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_the_stream_is_created_with_three_replicas_on_a_cluster(
    nats_cluster_servers: list[NatsServer],
) -> None:
    subjects = _subjects()
    nc = await nats.connect(nats_cluster_servers[0].url)
    try:
        await ensure_events_stream(nc.jetstream(), subjects, replicas=3)
        await ensure_events_stream(nc.jetstream(), subjects, replicas=3)  # idempotent
        info = await nc.jetstream().stream_info(subjects.events_stream)
        assert info.config.num_replicas == 3
        assert info.cluster is not None
        assert len(info.cluster.replicas or []) == 2  # the leader plus two followers
    finally:
        await nc.close()


async def test_an_existing_single_copy_stream_is_moved_to_three(
    nats_cluster_servers: list[NatsServer],
) -> None:
    subjects = _subjects()
    nc = await nats.connect(nats_cluster_servers[1].url)
    try:
        js = nc.jetstream()
        await ensure_events_stream(js, subjects, replicas=1)
        await _publish_once_placed(js, f"{subjects.prefix}.evt.test", b"kept")
        await ensure_events_stream(js, subjects, replicas=3)
        info = await js.stream_info(subjects.events_stream)
        assert info.config.num_replicas == 3
        assert info.state.messages == 1
    finally:
        await nc.close()


async def test_more_replicas_than_servers_is_refused_with_the_reason(
    nats_server: NatsServer,
) -> None:
    subjects = _subjects()
    nc = await nats.connect(nats_server.url)
    try:
        with pytest.raises(Unavailable, match=f"JetStream refused stream {subjects.events_stream}"):
            await ensure_events_stream(nc.jetstream(), subjects, replicas=3)
    finally:
        await nc.close()


def test_the_replica_count_is_a_nats_setting() -> None:
    config = load_section(NatsConfig, "NATS", {"STACKMCP_NATS_STREAM_REPLICAS": "3"})
    assert config.stream_replicas == 3
    assert NatsConfig().stream_replicas == 1
