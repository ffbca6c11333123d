"""Opaque pagination cursors: signed, bound to one account, server and tool, and expiring.

A cursor carries the paging state (upstream page and size, or an offset into a list the worker
pages itself) and the list's filter arguments, so the model only passes it back. It is never a
raw upstream URL: a forged or altered cursor fails the HMAC check before any request is made.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any

import msgspec

from stackmcp.runtime.errors import InvalidArgument

__all__ = ["CursorSigner", "CursorState"]

_MAC_BYTES = 16


class CursorState(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """What a cursor remembers between two calls of a list tool."""

    account_id: str
    server_id: str
    tool: str
    page: int = 1
    """Next upstream page (upstream-paginated lists)."""
    per_page: int = 0
    offset: int = 0
    """Next item index (lists the worker pages itself)."""
    query: dict[str, Any] = msgspec.field(default_factory=dict)
    """The filter arguments of the first call, replayed on every page."""
    expires: int = 0
    """Unix time after which the cursor is refused."""


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(CursorState)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorSigner:
    """Issue and verify cursors with one secret key.

    Args:
        key: HMAC key shared by every worker replica.
        ttl: seconds a cursor stays valid.
    """

    def __init__(self, key: bytes, *, ttl: float = 3600.0) -> None:
        if len(key) < 16:
            raise ValueError("cursor key must be at least 16 bytes")
        self._key = key
        self._ttl = ttl

    def issue(self, state: CursorState, *, now: float | None = None) -> str:
        """Return the opaque cursor for ``state`` (its expiry is set here)."""
        stamped = msgspec.structs.replace(
            state, expires=int((time.time() if now is None else now) + self._ttl)
        )
        payload = _ENCODER.encode(stamped)
        return _b64(payload) + "." + _b64(self._mac(payload))

    def verify(
        self, cursor: str, *, account_id: str, server_id: str, tool: str, now: float | None = None
    ) -> CursorState:
        """Return the state of a cursor issued for exactly this account, server and tool.

        Raises:
            InvalidArgument: the cursor is malformed, altered, expired or belongs elsewhere.
        """
        state = self._decode(cursor)
        if (state.account_id, state.server_id, state.tool) != (account_id, server_id, tool):
            raise _invalid("it was issued for a different tool or MCP server")
        if (time.time() if now is None else now) >= state.expires:
            raise _invalid("it has expired")
        return state

    def _decode(self, cursor: str) -> CursorState:
        payload_text, _, mac_text = cursor.partition(".")
        try:
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            raise _invalid("it is not a cursor this server issued") from None
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise _invalid("it is not a cursor this server issued")
        try:
            return _DECODER.decode(payload)
        except msgspec.DecodeError:
            raise _invalid("it is not a cursor this server issued") from None

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _invalid(reason: str) -> InvalidArgument:
    return InvalidArgument(
        f"next_cursor was refused because {reason}; pass back the exact next_cursor from the "
        "previous result, or call the tool again without next_cursor to start over",
        fields={"next_cursor": [reason]},
    )
