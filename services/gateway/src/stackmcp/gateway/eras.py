"""Every rule that differs between MCP protocol eras, in one place.

Three eras reach the gateway:

* ``SESSION``: revisions 2024-11-05 … 2025-11-25 over Streamable HTTP. ``initialize`` opens a
  session (``Mcp-Session-Id``); every later request names it.
* ``SSE``: the 2024-11-05 HTTP+SSE transport. Same methods as ``SESSION``; replies travel on the
  session's event stream, so they carry no HTTP headers of their own.
* ``STATELESS``: revision 2026-07-28. No session; every request carries its version and the
  client's capabilities in ``params._meta`` and mirrors method and name in headers.

A Streamable HTTP request picks its era with ``MCP-Protocol-Version``: absent or a handshake
revision → ``SESSION``; anything else → ``STATELESS``, whose envelope check answers an unknown
revision with ``-32022``.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping
from typing import Any

from stackmcp.gateway.jsonrpc import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    UNSUPPORTED_PROTOCOL_VERSION,
    Message,
    RpcError,
)

__all__ = [
    "CAPABILITIES_META",
    "HANDSHAKE_VERSIONS",
    "LATEST_HANDSHAKE",
    "MODERN_VERSIONS",
    "PROTOCOL_META",
    "SSE_TRANSPORT_VERSION",
    "Era",
    "allowed_http_methods",
    "check_stateless_envelope",
    "era_of",
    "error_status",
    "negotiate",
]

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""Revisions reached through ``initialize`` (sessions)."""
MODERN_VERSIONS = ("2026-07-28",)
"""Stateless revisions: every request carries its version in ``_meta`` and headers."""
LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[-1]
SSE_TRANSPORT_VERSION = "2024-11-05"
"""The revision an HTTP+SSE session starts with."""
PROTOCOL_META = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
_NAME_BEARING = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
_STATUS_BY_CODE = {-32700: 400, -32600: 400, -32602: 400, -32020: 400, -32021: 400, -32022: 400}


class Era(enum.Enum):
    """How a request is framed (see the module docstring)."""

    SESSION = "session"
    SSE = "sse"
    STATELESS = "stateless"

    @property
    def stateless(self) -> bool:
        """Whether requests carry their own version and capabilities (2026-07-28)."""
        return self is Era.STATELESS


def era_of(header_version: str | None) -> Era:
    """The era of a Streamable HTTP request with this ``MCP-Protocol-Version`` header."""
    if header_version is None or header_version in HANDSHAKE_VERSIONS:
        return Era.SESSION
    return Era.STATELESS


def negotiate(requested: object) -> str:
    """The version to answer ``initialize`` with: the client's if known, else the latest."""
    if isinstance(requested, str) and requested in HANDSHAKE_VERSIONS:
        return requested
    return LATEST_HANDSHAKE


def error_status(era: Era, error: RpcError) -> int:
    """The HTTP status of a JSON-RPC error answer.

    An error that names its status (framing errors: 400) keeps it in every era. Otherwise the
    stateless era maps codes to statuses (invalid params 400, unknown method 404), while the
    session eras answer method errors with 200, as their SDKs expect.
    """
    if error.status is not None:
        return error.status
    if not era.stateless:
        return 200
    return _STATUS_BY_CODE.get(error.code, 404 if error.code == -32601 else 200)


def allowed_http_methods(era: Era) -> str:
    """The ``Allow`` header of a 405 on the MCP endpoint: the stateless era is POST only."""
    return "POST" if era.stateless else "GET, POST, DELETE"


def check_stateless_envelope(
    headers: Mapping[str, str], message: Message, header_version: str
) -> str:
    """Check a 2026-07-28 request's ``_meta`` envelope and mirrored headers.

    Args:
        headers: request headers, lower-case names.
        message: the decoded message.
        header_version: the ``MCP-Protocol-Version`` header.

    Returns:
        The protocol version of the request.

    Raises:
        RpcError: ``-32602`` without the envelope, ``-32020`` when a header disagrees with the
            body, ``-32022`` for a revision this gateway does not speak.
    """
    if message.is_request:
        _check_meta(message.params, header_version)
    if headers.get("mcp-method") != message.method:
        raise RpcError(HEADER_MISMATCH, "Mcp-Method header does not match the body's method")
    name_key = _NAME_BEARING.get(message.method or "")
    if name_key is not None:
        body_name = (message.params or {}).get(name_key)
        if body_name is not None and _decode_header(headers.get("mcp-name")) != body_name:
            raise RpcError(HEADER_MISMATCH, f"Mcp-Name header does not match the body's {name_key}")
    if header_version not in MODERN_VERSIONS:
        raise RpcError(
            UNSUPPORTED_PROTOCOL_VERSION,
            f"Unsupported protocol version: {header_version[:40]}",
            {"supported": [*MODERN_VERSIONS, *HANDSHAKE_VERSIONS], "requested": header_version},
        )
    return header_version


def _check_meta(params: dict[str, Any] | None, header_version: str) -> None:
    meta = (params or {}).get("_meta")
    if not isinstance(meta, dict):
        raise RpcError(
            INVALID_PARAMS,
            f"params._meta must carry {PROTOCOL_META!r} and {CAPABILITIES_META!r}",
        )
    missing = [k for k in (PROTOCOL_META, CAPABILITIES_META) if k not in meta]
    if missing:
        raise RpcError(INVALID_PARAMS, f"params._meta is missing: {', '.join(missing)}")
    if meta[PROTOCOL_META] != header_version:
        raise RpcError(HEADER_MISMATCH, "MCP-Protocol-Version header does not match params._meta")


def _decode_header(value: str | None) -> str | None:
    if value is None or not (value.startswith("=?base64?") and value.endswith("?=")):
        return value
    try:
        return base64.b64decode(value[9:-2], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
