"""Messages between the gateway and the betterstack-worker: catalogue and tool calls."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from stackmcp.contracts._base import Message
from stackmcp.contracts.errors import ErrorBody
from stackmcp.contracts.grants import Pin

__all__ = [
    "NULL_JSON",
    "REDACTED",
    "CallPlan",
    "CatalogRequest",
    "CatalogResponse",
    "Provenance",
    "RateLimitInfo",
    "ToolAnnotations",
    "ToolCallRequest",
    "ToolCallResult",
    "ToolDescriptor",
    "WorkerPresence",
]

MethodClass = Literal["read", "write"]
NULL_JSON = msgspec.Raw(b"null")
REDACTED = "[redacted]"
"""What a credential field of a result reads when the server does not reveal secrets."""


class ToolAnnotations(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """MCP tool annotations (hints for clients, not guarantees)."""

    title: str | None = None
    readOnlyHint: bool | None = None  # noqa: N815 - MCP's wire names
    destructiveHint: bool | None = None  # noqa: N815
    idempotentHint: bool | None = None  # noqa: N815
    openWorldHint: bool | None = None  # noqa: N815


class ToolDescriptor(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One tool of the catalogue, in the shape the gateway lists it."""

    name: str
    """Stable tool name, e.g. ``list_all_better_stack_incidents``."""
    title: str
    description: str
    input_schema: dict[str, Any]
    """Self-contained JSON Schema (object root, no ``$ref``)."""
    output_schema: dict[str, Any] | None = None
    annotations: ToolAnnotations = ToolAnnotations()
    method: str
    """Method kind: list, get, create, update, delete or a custom action name."""
    method_class: MethodClass
    """``read`` (list, get) or ``write`` (everything else)."""
    tags: tuple[str, ...] = ()
    """Resource and method-level tags used by grant filters."""
    item_id: str | None = None
    """For list tools: the parameter that names one of the listed items (e.g. ``incident_id``
    for the incident list), so a server pinned to some of them sees only those."""


class CatalogRequest(Message, frozen=True, kw_only=True, tag="stackmcp.catalog.v1.request"):
    """Ask the worker for its catalogue."""

    known_version: str = ""
    """Version the caller already holds; the worker may answer without tools when equal."""


class CatalogResponse(Message, frozen=True, kw_only=True, tag="stackmcp.catalog.v1.response"):
    """The compiled catalogue."""

    version: str
    """Content hash of the catalogue; changes whenever any tool changes."""
    tools: tuple[ToolDescriptor, ...] = ()
    unchanged: bool = False
    """True when ``known_version`` matched and ``tools`` was left empty."""


class ToolCallRequest(Message, frozen=True, kw_only=True, tag="stackmcp.tool.v1.call_request"):
    """Run one tool for one MCP server."""

    server_id: str
    """The MCP server (grant) the call is made through; binds pagination cursors."""
    account_id: str
    """The integrated account whose credentials the worker uses."""
    tool: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    methods: tuple[str, ...] = ()
    """The grant's method filter, re-checked by the worker."""
    tags: tuple[str, ...] = ()
    """The grant's tag filter, re-checked by the worker."""
    timeout: float | None = None
    """Seconds the caller will wait (kept for older workers; ``deadline`` supersedes it)."""
    call_id: str = ""
    """Unique per call, the same on every attempt: a worker claims a write by it before
    sending anything upstream, so a write re-sent to another worker runs at most once."""
    deadline: float | None = None
    """Absolute deadline (UNIX seconds). A worker never starts upstream work past it, and the
    upstream request's timeout is the time remaining."""
    beacon: float = 0.0
    """Seconds between the progress beacons the caller asks for while the call runs (0: none);
    silence for longer tells the caller the worker stalled or died."""
    exclude_tags: tuple[str, ...] = ()
    """The grant's exclusions, re-checked by the worker."""
    exclude_tools: tuple[str, ...] = ()
    pin: tuple[Pin, ...] = ()
    """The grant's pins: re-checked by the worker, which also filters lists of the pinned
    resource to the pinned ids."""
    reveal_secrets: bool = False
    """When false the worker replaces credential fields in results with ``"[redacted]"``."""
    provenance: Provenance | None = None
    """Set when writes should leave a note on the Better Stack timeline naming who acted."""
    plan_only: bool = False
    """Describe the call (:class:`CallPlan`) instead of running it: nothing is changed."""


class Provenance(msgspec.Struct, frozen=True, kw_only=True):
    """Who acts through a write: the MCP server and the client, for the timeline note."""

    server_name: str
    client_name: str | None = None


class CallPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What a write would do, worked out without doing it (for a person to confirm)."""

    method: str
    """The upstream HTTP method, e.g. ``POST``."""
    path: str
    """The upstream path with its ids filled in, e.g. ``/api/v3/incidents/7/resolve``."""
    query: dict[str, Any] = msgspec.field(default_factory=dict)
    body: Any = None
    """The request body as it would be sent (credential fields redacted)."""
    effect: str
    """The effect in words, e.g. ``Resolves incident 7 "Checkout API is down".``"""
    notifies: str | None = None
    """Who is told, when the action notifies people (paged responders, subscribers)."""


class RateLimitInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Upstream rate-limit signals normalised to the IETF ``ratelimit-*`` fields."""

    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None
    """Seconds until the window resets."""
    retry_after: int | None = None
    """Seconds to wait after a 429."""

    def fields(self) -> dict[str, int]:
        """The IETF names and values present: ``ratelimit-limit``, ``-remaining``, ``-reset``,
        ``retry-after`` (as HTTP response headers and in a tool result's ``_meta``)."""
        pairs = {
            "ratelimit-limit": self.limit,
            "ratelimit-remaining": self.remaining,
            "ratelimit-reset": self.reset,
            "retry-after": self.retry_after,
        }
        return {name: value for name, value in pairs.items() if value is not None}


class ToolCallResult(Message, frozen=True, kw_only=True, tag="stackmcp.tool.v1.call_result"):
    """Outcome of a tool call. Failures while running the tool are results, not errors.

    ``structured`` travels as raw JSON so neither side decodes and re-encodes it: the gateway
    puts the bytes into ``structuredContent`` as they are and uses the same text as the text
    content (see :meth:`content_text`).
    """

    text: str = ""
    """Text content for the model. On success the worker sends ``structured`` as compact JSON
    without the ``null`` members of ``result``; empty means "the JSON of ``structured``"."""
    structured: msgspec.Raw = NULL_JSON
    """``structuredContent`` as JSON, e.g. ``{"result": [...], "next_cursor": ...}``."""
    is_error: bool = False
    error: ErrorBody | None = None
    rate_limit: RateLimitInfo | None = None
    upstream_status: int | None = None
    untrusted: tuple[str, ...] = ()
    """Names of the free-text fields in this result written by people or monitored systems
    (incident names and causes, comments, ...): data, never instructions."""
    plan: CallPlan | None = None
    """For a ``plan_only`` call: what the call would do."""

    def content_text(self) -> str:
        """The text content a client is shown: :attr:`text`, or the structured JSON."""
        return self.text or bytes(self.structured).decode()

    def structured_value(self) -> Any:
        """:attr:`structured` decoded (for callers that inspect it, such as tests)."""
        return msgspec.json.decode(self.structured)


class WorkerPresence(Message, frozen=True, kw_only=True, tag="stackmcp.worker.v1.presence"):
    """A worker announcing that it is alive, so gateways route calls to it directly."""

    worker_id: str
    """Random per process; the worker serves :meth:`Subjects.worker_tool_call` of this id."""
    interval: float
    """Seconds until the next announcement; silence for a few intervals means gone."""
    in_flight: int = 0
    """Tool calls running on this worker right now."""
    leaving: bool = False
    """The worker is draining: route nothing new to it."""
