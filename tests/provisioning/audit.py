"""Reading the audit stream in provisioning and expiry tests: every admin change, as stored
(other tests share the stream: look only at the records a test made)."""

from __future__ import annotations

import asyncio

import msgspec
import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from stackmcp.contracts.audit import AdminChange, AuditEntry
from stackmcp.contracts.subjects import Subjects

_ENTRY = msgspec.json.Decoder(AuditEntry)


def admin_changes(nats_url: str, subjects: Subjects) -> list[tuple[str, AdminChange, str | None]]:
    """Every admin change in the audit stream, oldest first: its subject, the record and its
    ``Nats-Msg-Id`` header (for synchronous tests)."""
    return asyncio.run(read_admin_changes(nats_url, subjects))


async def read_admin_changes(
    nats_url: str, subjects: Subjects
) -> list[tuple[str, AdminChange, str | None]]:
    """:func:`admin_changes` for asynchronous tests."""
    nc = await nats.connect(nats_url)
    found: list[tuple[str, AdminChange, str | None]] = []
    try:
        sub = await nc.jetstream().pull_subscribe(
            subjects.audit_filter("admin"),
            stream=subjects.audit_stream,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=5.0,
            ),
        )
        while True:
            try:
                batch = await sub.fetch(200, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            for msg in batch:
                entry = _ENTRY.decode(msg.data)
                if isinstance(entry, AdminChange):
                    found.append((msg.subject, entry, (msg.headers or {}).get("Nats-Msg-Id")))
        await sub.unsubscribe()
    finally:
        await nc.close()
    return found
