"""Data-driven CRUD: a :class:`Spec` per resource yields list/get/create/update/delete routes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler

from stackmcp.sandbox import clock
from stackmcp.sandbox.config import TEAM_NAME
from stackmcp.sandbox.envelope import (
    Paging,
    attributes_of,
    list_response,
    no_content,
    query,
    read_body,
    resource,
    single_response,
)
from stackmcp.sandbox.errors import field_error, not_found
from stackmcp.sandbox.fields import Field, apply_body, check_required, defaults
from stackmcp.sandbox.routing import Endpoint, route
from stackmcp.sandbox.state import SandboxState, state_of
from stackmcp.sandbox.store import Row

__all__ = [
    "ALL_OPS",
    "Hooks",
    "Listing",
    "Parent",
    "Spec",
    "crud_routes",
    "listing_route",
    "present",
]

ALL_OPS = frozenset({"list", "get", "create", "update", "delete"})


class Hooks:
    """Per-resource behaviour beyond plain attribute storage; the defaults do nothing."""

    def prepare(
        self, state: SandboxState, row: Row, body: Mapping[str, Any], creating: bool
    ) -> None:
        """Validate and derive attributes before a create/update is stored (may raise)."""

    def after_create(self, state: SandboxState, row: Row, body: Mapping[str, Any]) -> None:
        """Run after a new row got its id."""

    def before_delete(self, state: SandboxState, row: Row) -> None:
        """Cascade or tidy up before a row is removed."""

    def computed(self, state: SandboxState, row: Row) -> dict[str, Any]:
        """Computed attributes added when the row is serialised."""
        return {}

    def relationships(self, state: SandboxState, row: Row) -> dict[str, Any] | None:
        """The ``relationships`` member, or None to omit it."""
        return None

    def included(self, state: SandboxState, row: Row) -> Any:
        """The ``included`` member of single answers, or None to omit it."""
        return None

    def sort_key(self, row: Row) -> Any:
        """Order of list answers."""
        return row["id"]

    def resolve_id(self, state: SandboxState, raw: str) -> object:
        """Map an id path segment to a row id (lets ``/on-calls/default`` work)."""
        return raw


@dataclass(frozen=True)
class Parent:
    """A path parameter naming the row this resource is nested under."""

    param: str
    table: str
    fk: str
    """Attribute of the child holding the parent id."""
    scope: str | None = None
    """Attribute of *this parent* pointing at the previous parent in the path, if any."""


@dataclass(frozen=True)
class Spec:
    """Everything the generic layer needs to serve one resource."""

    table: str
    kind: str
    path: str
    id_param: str
    fields: Mapping[str, Field]
    required: tuple[str, ...] = ()
    ops: frozenset[str] = ALL_OPS
    filters: tuple[str, ...] = ()
    paging: Paging = field(default_factory=Paging)
    parents: tuple[Parent, ...] = ()
    foreign_keys: Mapping[str, str] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()
    hooks: Hooks = field(default_factory=Hooks)
    team: bool = True
    timestamps: bool = True

    @property
    def item_path(self) -> str:
        """The path of one row."""
        return f"{self.path}/{{{self.id_param}}}"


def present(state: SandboxState, spec: Spec, row: Row) -> dict[str, Any]:
    """The resource object of ``row``."""
    attributes = {**attributes_of(row, spec.hidden), **spec.hooks.computed(state, row)}
    return resource(spec.kind, row["id"], attributes, spec.hooks.relationships(state, row))


def _parents(state: SandboxState, spec: Spec, request: Request[Any, Any, Any]) -> dict[str, int]:
    """Check the parent chain of a nested path; map each child fk to its parent id."""
    ids: dict[str, int] = {}
    previous: int | None = None
    for parent in spec.parents:
        row = state.store[parent.table].require(request.path_params[parent.param])
        if parent.scope is not None and row.get(parent.scope) != previous:
            raise not_found()
        ids[parent.fk] = previous = row["id"]
    return ids


def _load(state: SandboxState, spec: Spec, request: Request[Any, Any, Any]) -> Row:
    scope = _parents(state, spec, request)
    raw = spec.hooks.resolve_id(state, request.path_params[spec.id_param])
    row = state.store[spec.table].require(raw)
    if any(row.get(fk) != value for fk, value in scope.items()):
        raise not_found()
    return row


def _check_foreign_keys(state: SandboxState, spec: Spec, row: Row) -> None:
    for name, table in spec.foreign_keys.items():
        value = row.get(name)
        if value is not None and state.store[table].get(value) is None:
            raise field_error(name, "is invalid")


def _filtered(state: SandboxState, spec: Spec, request: Request[Any, Any, Any]) -> list[Row]:
    scope = _parents(state, spec, request)
    params = query(request)
    rows = state.store[spec.table].where(**scope)
    for name in (*spec.filters, "team_name"):
        wanted = params.get(name)
        if wanted is not None:
            rows = [row for row in rows if str(row.get(name)) == wanted]
    return sorted(rows, key=spec.hooks.sort_key)


async def _save(spec: Spec, request: Request[Any, Any, Any], row: Row | None) -> Row:
    """Validate the body onto a copy of ``row`` (or a new row) and store it."""
    state = state_of(request)
    body = await read_body(request)
    creating = row is None
    candidate: Row = dict(row) if row is not None else defaults(spec.fields)
    if creating:
        candidate.update(_parents(state, spec, request))
        if spec.team:
            candidate["team_name"] = body.get("team_name") or TEAM_NAME
    apply_body(candidate, body, spec.fields)
    check_required(candidate, spec.required)
    _check_foreign_keys(state, spec, candidate)
    if spec.timestamps:
        stamp = clock.iso(state.now())
        candidate.setdefault("created_at", stamp)
        candidate["updated_at"] = stamp
    spec.hooks.prepare(state, candidate, body, creating)
    if row is None:
        row = state.store[spec.table].insert(candidate)
        spec.hooks.after_create(state, row, body)
        return row
    row.update(candidate)
    return row


def crud_endpoints(spec: Spec) -> dict[tuple[str, str], Endpoint]:
    """The (method, path) → endpoint map of one spec, limited to ``spec.ops``."""

    async def list_rows(request: Request[Any, Any, Any]) -> Response[Any]:
        state = state_of(request)
        objects = [present(state, spec, row) for row in _filtered(state, spec, request)]
        return list_response(request, objects, spec.paging)

    async def get_row(request: Request[Any, Any, Any]) -> Response[Any]:
        state = state_of(request)
        row = _load(state, spec, request)
        return single_response(present(state, spec, row), 200, spec.hooks.included(state, row))

    async def create_row(request: Request[Any, Any, Any]) -> Response[Any]:
        state = state_of(request)
        _parents(state, spec, request)
        row = await _save(spec, request, None)
        return single_response(present(state, spec, row), 201, spec.hooks.included(state, row))

    async def update_row(request: Request[Any, Any, Any]) -> Response[Any]:
        state = state_of(request)
        row = await _save(spec, request, _load(state, spec, request))
        return single_response(present(state, spec, row), 200, spec.hooks.included(state, row))

    async def delete_row(request: Request[Any, Any, Any]) -> Response[Any]:
        state = state_of(request)
        row = _load(state, spec, request)
        spec.hooks.before_delete(state, row)
        state.store[spec.table].delete(row["id"])
        return no_content()

    table = {
        "list": ("GET", spec.path, list_rows),
        "get": ("GET", spec.item_path, get_row),
        "create": ("POST", spec.path, create_row),
        "update": ("PATCH", spec.item_path, update_row),
        "delete": ("DELETE", spec.item_path, delete_row),
    }
    return {(method, path): fn for op, (method, path, fn) in table.items() if op in spec.ops}


def crud_routes(spec: Spec) -> list[HTTPRouteHandler]:
    """Litestar handlers for one spec."""
    return [route(method, path, fn) for (method, path), fn in crud_endpoints(spec).items()]


@dataclass(frozen=True)
class Listing:
    """A paginated list of ``child`` rows whose ``fk`` equals the parent named in the path."""

    path: str
    parent_table: str
    parent_param: str
    child: Spec
    fk: str


def listing_route(listing: Listing) -> HTTPRouteHandler:
    """The handler of a member listing such as ``/monitor-groups/{id}/monitors``."""
    child = listing.child

    async def list_members(request: Request[Any, Any, Any]) -> Response[Any]:
        state = state_of(request)
        parent = state.store[listing.parent_table].require(
            request.path_params[listing.parent_param]
        )
        rows = sorted(
            state.store[child.table].where(**{listing.fk: parent["id"]}), key=child.hooks.sort_key
        )
        return list_response(request, [present(state, child, row) for row in rows], child.paging)

    return route("GET", listing.path, list_members)
