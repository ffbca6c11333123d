"""JSON-RPC 2.0 framing for MCP: parsing one message, encoding replies, the error codes.

Parsing is strict where a lenient reader could be fooled and bounded where a hostile body could
cost the process: :mod:`stackmcp.runtime.strictjson` refuses invalid UTF-8, nesting deeper than
:data:`MAX_DEPTH` and repeated keys, numbers out of range are parse errors, and an ``id`` must be
a string or a 64-bit integer. Replies are assembled from pre-encoded parts so a
cached ``tools/list`` result is spliced in as bytes, never re-encoded per request.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from stackmcp.runtime import strictjson

__all__ = [
    "HEADER_MISMATCH",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "MAX_DEPTH",
    "METHOD_NOT_FOUND",
    "MISSING_CLIENT_CAPABILITY",
    "PARSE_ERROR",
    "REQUEST_CANCELLED",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "Message",
    "RpcError",
    "encode_error",
    "encode_result",
    "parse_message",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
HEADER_MISMATCH = -32020
MISSING_CLIENT_CAPABILITY = -32021
UNSUPPORTED_PROTOCOL_VERSION = -32022

MAX_DEPTH = strictjson.MAX_DEPTH
"""Deepest nesting of arrays and objects accepted in a message."""
_INT64 = 2**63

_NO_ID = object()
logger = logging.getLogger(__name__)


class RpcError(Exception):
    """A JSON-RPC error to answer with (``message`` is shown to the client)."""

    def __init__(self, code: int, message: str, data: Any = None, *, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.status = status
        """HTTP status to answer with, when the transport should not use 200."""


REQUEST_CANCELLED = RpcError(-32800, "Request cancelled")
"""The answer to a request the client cancelled."""


class Message(msgspec.Struct, frozen=True):
    """One decoded JSON-RPC message (request, notification or response)."""

    method: str | None
    params: dict[str, Any] | None
    id: Any
    """The request id (str or int); ``None`` for notifications."""
    is_request: bool
    is_response: bool
    result: Any = None
    """A response's ``result`` (``None`` for requests, notifications and errors)."""
    error: Any = None
    """A response's ``error`` object, if it is an error response."""

    @property
    def is_notification(self) -> bool:
        """A method call without an id."""
        return self.method is not None and not self.is_request


class _Envelope(msgspec.Struct):
    jsonrpc: Any = None
    method: Any = None
    params: Any = None
    id: Any = msgspec.field(default_factory=lambda: _NO_ID)
    result: Any = msgspec.field(default_factory=lambda: _NO_ID)
    error: Any = msgspec.field(default_factory=lambda: _NO_ID)


_DECODER = msgspec.json.Decoder()


def parse_message(body: bytes) -> Message:
    """Decode one JSON-RPC message.

    Raises:
        RpcError: ``-32700`` for a body that is not acceptable JSON (see the module docstring),
            ``-32600`` for a batch or a malformed envelope.
    """
    raw = _decode(body)
    if isinstance(raw, list):
        raise RpcError(
            INVALID_REQUEST,
            "Invalid Request: batches are not supported; send one JSON-RPC message per request",
            status=400,
        )
    if not isinstance(raw, dict):
        raise RpcError(INVALID_REQUEST, "Invalid Request: expected a JSON object", status=400)
    envelope = msgspec.convert(raw, _Envelope)
    if envelope.jsonrpc != "2.0":
        raise RpcError(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"', status=400)
    has_id = envelope.id is not _NO_ID
    if has_id and not _valid_id(envelope.id):
        raise RpcError(
            INVALID_REQUEST, "Invalid Request: id must be a string or a 64-bit integer", status=400
        )
    if envelope.method is None:
        if has_id and (envelope.result is not _NO_ID or envelope.error is not _NO_ID):
            result = None if envelope.result is _NO_ID else envelope.result
            error = None if envelope.error is _NO_ID else envelope.error
            return Message(None, None, envelope.id, False, True, result, error)
        raise RpcError(INVALID_REQUEST, 'Invalid Request: "method" is missing', status=400)
    if not isinstance(envelope.method, str):
        raise RpcError(INVALID_REQUEST, 'Invalid Request: "method" must be a string', status=400)
    params = envelope.params
    if params is not None and not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: params must be an object", status=400)
    return Message(
        envelope.method,
        params,
        envelope.id if has_id else None,
        is_request=has_id,
        is_response=False,
    )


def _decode(body: bytes) -> Any:
    try:
        strictjson.check(body)
        return _DECODER.decode(body)
    except strictjson.JsonRefused as refused:
        reason = f"the body {refused.reason}"
    except (msgspec.DecodeError, RecursionError):
        reason = "the body is not valid JSON, or holds a number out of range"
    logger.info("refused a request body: %s", reason)
    raise RpcError(PARSE_ERROR, f"Parse error: {reason}", status=400)


def _valid_id(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64


_ENCODER = msgspec.json.Encoder()


def encode_result(request_id: Any, result: bytes | Any) -> bytes:
    """``{"jsonrpc":"2.0","id":…,"result":…}``; ``result`` may be pre-encoded JSON bytes."""
    encoded = result if isinstance(result, bytes) else _ENCODER.encode(result)
    # One copy of a result that may be tens of KB (a chain of ``+`` copies it at every step).
    return b"".join(
        (b'{"jsonrpc":"2.0","id":', _ENCODER.encode(request_id), b',"result":', encoded, b"}")
    )


def encode_error(request_id: Any, error: RpcError) -> bytes:
    """``{"jsonrpc":"2.0","id":…,"error":{code,message,data?}}`` (``id`` null when unknown)."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    return _ENCODER.encode({"jsonrpc": "2.0", "id": request_id, "error": body})
