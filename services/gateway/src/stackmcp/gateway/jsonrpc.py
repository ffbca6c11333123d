"""JSON-RPC 2.0 framing for MCP: parsing one message, encoding replies, the error codes.

Replies are assembled from pre-encoded parts so a cached ``tools/list`` result is spliced in
as bytes, never re-encoded per request.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "HEADER_MISMATCH",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "MISSING_CLIENT_CAPABILITY",
    "PARSE_ERROR",
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

_NO_ID = object()


class RpcError(Exception):
    """A JSON-RPC error to answer with (``message`` is shown to the client)."""

    def __init__(self, code: int, message: str, data: Any = None, *, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.status = status
        """HTTP status to answer with, when the transport should not use 200."""


class Message(msgspec.Struct, frozen=True):
    """One decoded JSON-RPC message (request, notification or response)."""

    method: str | None
    params: dict[str, Any] | None
    id: Any
    """The request id (str or int); ``None`` for notifications."""
    is_request: bool
    is_response: bool

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
        RpcError: ``-32700`` for bad JSON, ``-32600`` for a batch or a malformed envelope.
    """
    try:
        raw = _DECODER.decode(body)
    except msgspec.DecodeError:
        raise RpcError(PARSE_ERROR, "Parse error: the body is not valid JSON", status=400) from None
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
    if has_id and not (isinstance(envelope.id, (str, int)) and not isinstance(envelope.id, bool)):
        raise RpcError(
            INVALID_REQUEST, "Invalid Request: id must be a string or integer", status=400
        )
    if envelope.method is None:
        if has_id and (envelope.result is not _NO_ID or envelope.error is not _NO_ID):
            return Message(None, None, envelope.id, is_request=False, is_response=True)
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


_ENCODER = msgspec.json.Encoder()


def encode_result(request_id: Any, result: bytes | Any) -> bytes:
    """``{"jsonrpc":"2.0","id":…,"result":…}``; ``result`` may be pre-encoded JSON bytes."""
    encoded = result if isinstance(result, bytes) else _ENCODER.encode(result)
    return b'{"jsonrpc":"2.0","id":' + _ENCODER.encode(request_id) + b',"result":' + encoded + b"}"


def encode_error(request_id: Any, error: RpcError) -> bytes:
    """``{"jsonrpc":"2.0","id":…,"error":{code,message,data?}}`` (``id`` null when unknown)."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    return _ENCODER.encode({"jsonrpc": "2.0", "id": request_id, "error": body})
