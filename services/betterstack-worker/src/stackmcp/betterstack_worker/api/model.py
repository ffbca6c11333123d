"""The vocabulary of the Better Stack API description: parameters, pagination, operations.

Everything here is plain frozen data. The catalogue compiler turns it into MCP tools; the
executor (a later module) uses the same objects to build the HTTP request and to normalise the
answer, so each :class:`Operation` carries the whole recipe for one upstream endpoint.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "CUSTOM",
    "STANDARD_METHODS",
    "Envelope",
    "Excluded",
    "HostKind",
    "HttpMethod",
    "IdKind",
    "Location",
    "Operation",
    "Page",
    "Param",
    "ParamType",
    "Resource",
]

Location = Literal["path", "query", "body", "worker"]
"""``worker``: an argument the worker applies itself (a filter, a shape); never sent upstream."""
ParamType = Literal["string", "integer", "number", "boolean", "array", "object"]
IdKind = Literal["digits", "digits_or_default"]
HostKind = Literal["uptime", "betterstack"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Envelope = Literal["jsonapi_single", "jsonapi_list", "raw_object", "raw_list", "empty"]
"""How the upstream answers.

``jsonapi_single``: ``{"data": {...}, "included"?}``; ``jsonapi_list``: ``{"data": [...],
"pagination"?, "included"?}``; ``raw_object``: a bare JSON object; ``raw_list``: a bare object
holding the list under :attr:`Operation.list_key` (e.g. ``{"events": [...]}``); ``empty``: 204.
"""

STANDARD_METHODS = frozenset({"list", "get", "create", "update", "delete"})
"""Method kinds with a fixed tool-name pattern; every other method kind is a custom action."""
CUSTOM = "custom"


class Param(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One argument of an operation, as the model sees it and as the request carries it."""

    name: str
    """Tool argument name (for path params this is also the placeholder in the path template)."""
    type: ParamType
    description: str
    location: Location = "body"
    required: bool = False
    nullable: bool = False
    """``null`` is accepted (e.g. to clear a foreign key)."""
    enum: tuple[str | int, ...] = ()
    format: str | None = None
    """JSON Schema format: ``date`` (YYYY-MM-DD), ``date-time``, ``email``, ``uri``, ``time``."""
    pattern: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    min_items: int | None = None
    id_kind: IdKind | None = None
    """Set on every id parameter (always on path params): the argument may be a string of
    digits or an integer (``digits_or_default`` also takes ``"default"``), and :attr:`type`
    (``string`` or ``integer``) is how the upstream wants it, so the worker converts it to
    that before sending. Path ids are checked again before any request is built."""
    items: Param | None = None
    """Element description for ``array`` params (its name is ignored)."""
    properties: tuple[Param, ...] = ()
    """Known members of ``object`` params (and of array items)."""
    open_object: bool = False
    """An ``object`` whose members are free-form (no ``additionalProperties: false``)."""
    upstream_names: tuple[str, ...] = ()
    """Names the value is sent under upstream instead of :attr:`name`; several when the docs
    and the API disagree (the value is then sent under each)."""
    deep_object: bool = False
    """Query objects encoded as ``name[key]=value`` pairs."""
    guess: bool = False
    """Not confirmed by Better Stack's docs or Terraform provider."""
    team_default: bool = False
    """The acting team (``team_name`` for global API tokens): the account's configured team is
    always sent, so the tool does not offer it (one parameter fewer on every list and create
    tool; an account is one team)."""


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """How a list operation is paged: by the upstream (``page``/``per_page``) or by the worker."""

    upstream: bool
    """True when the upstream pages (``page``/``per_page`` + ``pagination.next``)."""
    default_limit: int = 20
    """Items per tool call when the model gives no ``limit``."""
    max_limit: int = 100
    """Largest ``limit`` accepted (the upstream ``per_page`` maximum when it pages)."""
    upstream_default: int = 50
    """The upstream's own default ``per_page`` (informational)."""


class Resource(msgspec.Struct, frozen=True, kw_only=True):
    """A noun of the API, named as the tools name it."""

    singular: str
    """``incident``, ``on_call_schedule``: used by get/create/update/delete tool names."""
    plural: str
    """``incidents``, ``on_call_schedules``: used by list and custom-action tool names."""
    tags: tuple[str, ...]
    """Resource tags for grant filters, e.g. ``("incidents",)``."""
    label: str
    """Human wording for titles, e.g. ``incident comment``."""


class Operation(msgspec.Struct, frozen=True, kw_only=True):
    """One upstream endpoint exposed as one tool."""

    resource: Resource
    method: str
    """``list``, ``get``, ``create``, ``update``, ``delete`` or a custom action name."""
    http_method: HttpMethod
    path: str
    """Path template; every ``{placeholder}`` is a path :class:`Param` with an ``id_kind``."""
    description: str
    """What the tool does, written for a model: units, ids to look up first, side effects."""
    params: tuple[Param, ...] = ()
    host: HostKind = "uptime"
    read: bool = False
    """A read (no state change); list and get always are."""
    envelope: Envelope = "jsonapi_single"
    list_key: str | None = None
    """For ``raw_list``: the key holding the list."""
    keep_keys: tuple[str, ...] = ()
    """Top-level answer keys kept next to ``data`` (e.g. the invite's ``message``)."""
    success: tuple[int, ...] = (200,)
    """Upstream success statuses; 204 means the result may be empty."""
    page: Page | None = None
    """Set on list operations; every such tool takes ``limit`` and ``next_cursor``."""
    destructive: bool = False
    idempotent: bool = False
    method_tags: tuple[str, ...] = ()
    """Method-level tags besides those derived here (``destructive``), e.g. ``notifies``."""
    guess: bool = False
    """The endpoint itself is not confirmed upstream."""
    title: str | None = None
    """Overrides the generated title."""
    compose: str | None = None
    """The worker-side composition that runs this tool (several upstream calls, see
    :mod:`~stackmcp.betterstack_worker.execution.oncall`); ``None`` for one upstream call.
    :attr:`path` is then the composition's main endpoint."""


class Excluded(msgspec.Struct, frozen=True, kw_only=True):
    """An upstream endpoint deliberately not exposed as a tool."""

    http_method: HttpMethod
    path: str
    reason: str
    covered_by: str | None = None
    """The method kind/path of the operation that serves the same purpose, if any."""
