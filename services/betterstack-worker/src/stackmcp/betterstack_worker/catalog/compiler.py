"""Compile the API description into the MCP tool catalogue, once, with a content hash."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Iterator, Mapping

import msgspec

from stackmcp.betterstack_worker.api import Operation, Param
from stackmcp.betterstack_worker.catalog.naming import (
    NAME_RE,
    method_class,
    tool_name,
    tool_tags,
    tool_title,
)
from stackmcp.betterstack_worker.catalog.schemas import input_schema
from stackmcp.contracts.tools import CatalogResponse, ToolAnnotations, ToolDescriptor

__all__ = ["Catalog", "CatalogError", "compile_catalog", "describe", "item_id", "version_of"]

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_METHOD_RE = re.compile(r"^[a-z][a-z_]*$")
_LIST_ENVELOPES = frozenset({"jsonapi_list", "raw_list"})
_GUESS_NOTE = " Unconfirmed endpoint (may 404)."


class CatalogError(ValueError):
    """The API description is inconsistent (a bug in the description, found at compile time)."""


class Catalog(msgspec.Struct, frozen=True, kw_only=True):
    """The compiled catalogue: tools in a fixed order, their operations, and a version hash."""

    version: str
    """sha256 (hex) of the canonical JSON of :attr:`tools`."""
    tools: tuple[ToolDescriptor, ...]
    operations: Mapping[str, Operation]
    """Tool name → the operation it runs."""

    def response(self) -> CatalogResponse:
        """The catalogue as the ``catalog.get`` reply."""
        return CatalogResponse(version=self.version, tools=self.tools)


def compile_catalog(operations: Iterable[Operation]) -> Catalog:
    """Check every operation and turn it into a :class:`ToolDescriptor`, keeping the order.

    Raises:
        CatalogError: an operation is inconsistent or two tools share a name.
    """
    ops = tuple(operations)
    path_ids = frozenset(p.name for op in ops for p in op.params if p.location == "path")
    creates = {op.resource.singular: op for op in ops if op.method == "create"}
    by_name: dict[str, Operation] = {}
    tools: list[ToolDescriptor] = []
    for op in ops:
        _check(op)
        tool = describe(op, path_ids, creates.get(op.resource.singular))
        if tool.name in by_name:
            raise CatalogError(f"duplicate tool name {tool.name}")
        by_name[tool.name] = op
        tools.append(tool)
    frozen = tuple(tools)
    return Catalog(version=version_of(frozen), tools=frozen, operations=by_name)


def describe(
    op: Operation, path_ids: Collection[str] = (), create: Operation | None = None
) -> ToolDescriptor:
    """The tool descriptor of one (already checked) operation.

    ``path_ids`` are the path parameter names of the whole catalogue; a list tool whose items
    one of them addresses names it as its ``item_id``. ``create`` is the create operation of
    the same resource: an update tool leaves the fields it shares with it undescribed and
    says so (they are described once, on the create tool).
    """
    shared = _shared_fields(op, create) if create is not None and op.method == "update" else ()
    description = op.description
    if shared and create is not None:
        description += f" Fields as in {tool_name(create)}; only those given change."
    return ToolDescriptor(
        name=tool_name(op),
        title=tool_title(op),
        description=description + (_GUESS_NOTE if op.guess else ""),
        input_schema=input_schema(op, shared),
        annotations=_annotations(op),
        method=op.method,
        method_class=method_class(op),
        tags=tool_tags(op),
        item_id=item_id(op, path_ids),
    )


def item_id(op: Operation, path_ids: Collection[str]) -> str | None:
    """For a list tool: the path parameter naming one listed item, if the catalogue has one.

    Only ``list`` itself qualifies: a custom listing such as a monitor group's monitors lists
    items of another resource than the one it is filed under.
    """
    name = f"{op.resource.singular}_id"
    return name if op.method == "list" and name in path_ids else None


def _shared_fields(update: Operation, create: Operation) -> frozenset[str]:
    """The update's body fields that the create operation has too, with the same meaning
    (equal but for ``required`` and ``description``)."""
    created = {p.name: _meaning(p) for p in create.params if p.location == "body"}
    return frozenset(
        p.name for p in update.params if p.location == "body" and created.get(p.name) == _meaning(p)
    )


def _meaning(param: Param) -> Param:
    return msgspec.structs.replace(param, required=False, description="")


def version_of(tools: tuple[ToolDescriptor, ...]) -> str:
    """sha256 of the tools' msgspec JSON with sorted keys: equal tools, equal version."""
    return hashlib.sha256(msgspec.json.encode(tools, order="sorted")).hexdigest()


def _annotations(op: Operation) -> ToolAnnotations:
    """The hints that differ from MCP's defaults (not read-only, destructive, not idempotent,
    open world), plus ``destructiveHint`` on every write so no client has to know the default.

    The title is the tool's own ``title``; repeating it here would only cost tokens.
    """
    if op.read:
        return ToolAnnotations(readOnlyHint=True)
    return ToolAnnotations(destructiveHint=op.destructive, idempotentHint=op.idempotent or None)


def _check(op: Operation) -> None:
    where = f"{op.http_method} {op.path} ({op.method})"
    problems = [*_check_params(op), *_check_shape(op)]
    if not NAME_RE.fullmatch(tool_name(op)):
        problems.append(f"tool name {tool_name(op)!r} is not a valid MCP tool name")
    if problems:
        raise CatalogError(f"{where}: " + "; ".join(problems))


def _check_params(op: Operation) -> list[str]:
    problems: list[str] = []
    names = [p.name for p in op.params]
    if len(set(names)) != len(names):
        problems.append("duplicate parameter names")
    path_params = {p.name for p in op.params if p.location == "path"}
    if set(_PLACEHOLDER.findall(op.path)) != path_params:
        problems.append("path placeholders and path params differ")
    if any(p.id_kind is None for p in op.params if p.location == "path"):
        problems.append("a path param has no id_kind")
    if any(p.type not in {"string", "integer"} for p in _ids(op.params)):
        problems.append("an id param must be sent upstream as a string or an integer")
    if op.page is not None and {"limit", "next_cursor"} & set(names):
        problems.append("limit/next_cursor are reserved on list tools")
    return problems


def _ids(params: tuple[Param, ...]) -> Iterator[Param]:
    for param in params:
        if param.id_kind is not None:
            yield param
        if param.items is not None:
            yield from _ids((param.items,))
        yield from _ids(param.properties)


def _check_shape(op: Operation) -> list[str]:
    problems: list[str] = []
    if not _METHOD_RE.fullmatch(op.method):
        problems.append("method must be lower snake case")
    if op.method in {"list", "get"} and not op.read:
        problems.append("list/get must be reads")
    if op.method == "list" and op.page is None:
        problems.append("list operations need a page policy")
    if (op.page is not None) != (op.envelope in _LIST_ENVELOPES):
        problems.append("paged operations and list envelopes must go together")
    if (op.envelope == "raw_list") != (op.list_key is not None):
        problems.append("raw_list needs list_key (and only it)")
    if op.read and (op.destructive or op.http_method != "GET"):
        problems.append("reads must be non-destructive GETs")
    if op.page is not None and not 1 <= op.page.default_limit <= op.page.max_limit:
        problems.append("default_limit must lie in 1..max_limit")
    return problems
