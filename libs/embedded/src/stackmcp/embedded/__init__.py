"""Embedded infrastructure: real ``nats-server`` and ``valkey-server`` child processes.

Backs both ``stackmcp up`` (via :class:`EmbeddedInfra`) and the test fixtures in
``tests/support/servers.py``. All servers bind to loopback, log to files, and never outlive the
process that started them.
"""

from stackmcp.embedded.binaries import nats_server_binary, valkey_server_binary
from stackmcp.embedded.errors import BinaryNotFoundError, EmbeddedError, ProcessStartError
from stackmcp.embedded.nats import NatsServer, nats_cluster
from stackmcp.embedded.ports import free_port, tcp_accepts, wait_for_tcp
from stackmcp.embedded.process import ManagedProcess
from stackmcp.embedded.stack import EmbeddedInfra
from stackmcp.embedded.valkey import ValkeySentinel, ValkeyServer

__all__ = [
    "BinaryNotFoundError",
    "EmbeddedError",
    "EmbeddedInfra",
    "ManagedProcess",
    "NatsServer",
    "ProcessStartError",
    "ValkeySentinel",
    "ValkeyServer",
    "free_port",
    "nats_cluster",
    "nats_server_binary",
    "tcp_accepts",
    "valkey_server_binary",
    "wait_for_tcp",
]
