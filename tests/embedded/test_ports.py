"""Tests for stackmcp.embedded.ports."""

from __future__ import annotations

import socket

import pytest

from stackmcp.embedded import free_port, tcp_accepts, wait_for_tcp


def test_free_port_returns_a_bindable_loopback_port() -> None:
    """free_port hands out a port that can be bound right away."""
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 0 < port < 65536


def test_wait_for_tcp_returns_once_a_listener_accepts() -> None:
    """wait_for_tcp succeeds against a listening socket."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        wait_for_tcp("127.0.0.1", port, timeout=2)
        assert tcp_accepts("127.0.0.1", port)


def test_wait_for_tcp_times_out_when_nothing_listens() -> None:
    """wait_for_tcp raises TimeoutError within its bound when the port is closed."""
    with pytest.raises(TimeoutError, match="did not accept"):
        wait_for_tcp("127.0.0.1", free_port(), timeout=0.2)
