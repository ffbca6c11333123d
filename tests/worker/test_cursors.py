"""Pagination cursors: opaque, signed, bound to account/server/tool, expiring."""

from __future__ import annotations

import base64

import pytest

from stackmcp.betterstack_worker.cursors import CursorSigner, CursorState
from stackmcp.runtime.errors import InvalidArgument

KEY = b"k" * 32
STATE = CursorState(
    account_id="a1",
    server_id="s1",
    tool="list_all_better_stack_incidents",
    page=3,
    per_page=10,
    query={"resolved": False},
)
BOUND = {"account_id": "a1", "server_id": "s1", "tool": "list_all_better_stack_incidents"}


def test_round_trip_keeps_state_and_hides_no_url() -> None:
    """A cursor decodes to the state it was issued for and contains no upstream URL."""
    signer = CursorSigner(KEY, ttl=60)
    cursor = signer.issue(STATE, now=1000)
    state = signer.verify(cursor, **BOUND, now=1059)
    assert (state.page, state.per_page, state.query) == (3, 10, {"resolved": False})
    assert "http" not in cursor
    assert "betterstack" not in cursor


@pytest.mark.parametrize(
    "bound",
    [
        {**BOUND, "server_id": "s2"},
        {**BOUND, "account_id": "a2"},
        {**BOUND, "tool": "list_all_better_stack_monitors"},
    ],
)
def test_foreign_cursors_are_refused(bound: dict[str, str]) -> None:
    """A cursor from another server, account or tool is refused with a field error."""
    signer = CursorSigner(KEY)
    with pytest.raises(InvalidArgument, match="different tool or MCP server") as info:
        signer.verify(signer.issue(STATE), **bound)
    assert info.value.fields is not None
    assert "next_cursor" in info.value.fields


def test_expired_cursor_is_refused() -> None:
    """At its expiry instant a cursor stops working."""
    signer = CursorSigner(KEY, ttl=60)
    cursor = signer.issue(STATE, now=1000)
    with pytest.raises(InvalidArgument, match="expired"):
        signer.verify(cursor, **BOUND, now=1060)


def test_tampered_and_forged_cursors_are_refused() -> None:
    """Changing the payload, using another key, or sending junk all fail the signature."""
    signer = CursorSigner(KEY)
    cursor = signer.issue(STATE)
    payload, mac = cursor.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[-5] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=") + "." + mac
    forged = CursorSigner(b"x" * 32).issue(STATE)
    for bad in (tampered, forged, "junk", "", "a.b.c", "%%%.!!!"):
        with pytest.raises(InvalidArgument, match="not a cursor this server issued"):
            signer.verify(bad, **BOUND)


def test_short_keys_are_rejected() -> None:
    """A guessable key is refused at construction."""
    with pytest.raises(ValueError, match="at least 16 bytes"):
        CursorSigner(b"short")
