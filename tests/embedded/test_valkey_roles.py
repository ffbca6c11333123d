"""Replicas and Sentinels from the embedded valkey-server binary."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from stackmcp.embedded import ValkeySentinel, ValkeyServer
from tests.support.sentinel import wait_until

pytestmark = pytest.mark.integration


def test_a_replica_and_a_sentinel_with_passwords(tmp_path: Path) -> None:
    """A replica syncs from a password-protected primary; a Sentinel monitors it; no secret on
    a command line, and data directories (where Valkey rewrites its configuration) are 0700."""
    password = "pw/with:odd@chars"
    with (
        ValkeyServer(tmp_path / "primary", password=password) as primary,
        ValkeyServer(
            tmp_path / "replica", password=password, replica_of=(primary.host, primary.port)
        ) as replica,
        ValkeySentinel(
            tmp_path / "sentinel",
            primary=(primary.host, primary.port),
            quorum=1,
            primary_password=password,
            password="sentinel-pw",
        ) as sentinel,
    ):
        with redis.Redis.from_url(primary.url) as client:
            client.set("replicated", "yes")
        with redis.Redis.from_url(replica.url) as client:
            wait_until(lambda: client.get("replicated") == b"yes", 30, "the write on the replica")
            assert client.info("replication")["role"] == "slave"
        with redis.Redis(
            host=sentinel.host, port=sentinel.port, password="sentinel-pw", decode_responses=True
        ) as client:
            assert client.sentinel_get_master_addr_by_name("stackmcp") == (
                primary.host,
                primary.port,
            )
            wait_until(
                lambda: int(client.sentinel_master("stackmcp")["num-slaves"]) == 1,
                30,
                "the sentinel to find the replica",
            )
        for process in (primary, replica, sentinel):
            assert process.pid is not None
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
            assert b"pw" not in cmdline
            assert process.data_dir.stat().st_mode & 0o777 == 0o700
        assert sentinel.config_file.name == "sentinel.conf"
