"""JSON Schemas (2020-12, self-contained, no ``$ref``) for tool inputs.

Tools list no output schema: a schema that names no fields beyond the wrapper says nothing a
client can use, and it costs every conversation tokens. The ``structuredContent`` of list tools
is ``{"result": [object, ...], "next_cursor": string | null}``; of every other tool
``{"result": object}``, where ``result`` is ``null`` for answers without a body (deletes, and
metadata upserts that removed a key).

The schemas are written for a model's context: compact, with no keyword that repeats a default
(an empty ``required`` is left out). Every id parameter has one schema, whatever the upstream
wants: digits as a string or a non-negative integer (:data:`ID_TYPES`).
"""

from __future__ import annotations

from typing import Any

from stackmcp.betterstack_worker.api import Operation, Page, Param

__all__ = ["ID_TYPES", "input_schema", "param_schema"]

Schema = dict[str, Any]

ID_TYPES = ("string", "integer")
"""The JSON types an id parameter accepts: ``"7"`` and ``7`` name the same item."""
NEXT_CURSOR_IN = "next_cursor of the previous page; omit at first."


def input_schema(op: Operation) -> Schema:
    """The tool's argument schema: path, query and body params, then ``limit``/``next_cursor``."""
    props = {p.name: param_schema(p) for p in op.params}
    if op.page is not None:
        props["limit"] = _limit_schema(op.page)
        props["next_cursor"] = {"type": ["string", "null"], "description": NEXT_CURSOR_IN}
    schema: Schema = {"type": "object", "properties": props}
    required = [p.name for p in op.params if p.required]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def param_schema(param: Param, *, described: bool = True) -> Schema:
    """The schema of one parameter (recursively for arrays and objects)."""
    schema: Schema = {"type": _types(param)}
    if described:
        note = " (unconfirmed upstream)" if param.guess else ""
        schema["description"] = param.description + note
    if param.enum:
        schema["enum"] = [*param.enum, None] if param.nullable else list(param.enum)
    for key, value in (
        ("format", param.format),
        ("pattern", param.pattern),
        ("minimum", 0 if param.id_kind is not None else param.minimum),
        ("maximum", param.maximum),
        ("minItems", param.min_items),
    ):
        if value is not None:
            schema[key] = value
    if param.items is not None:
        schema["items"] = param_schema(param.items, described=False)
    if param.properties and not param.open_object:
        schema.update(_object_members(param.properties))
    elif param.properties:
        schema["properties"] = {p.name: param_schema(p) for p in param.properties}
        required = [p.name for p in param.properties if p.required]
        if required:
            schema["required"] = required
    return schema


def _types(param: Param) -> str | list[str]:
    if param.id_kind is not None:
        return [*ID_TYPES, "null"] if param.nullable else list(ID_TYPES)
    return [param.type, "null"] if param.nullable else param.type


def _object_members(members: tuple[Param, ...]) -> Schema:
    schema: Schema = {"properties": {p.name: param_schema(p) for p in members}}
    required = [p.name for p in members if p.required]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _limit_schema(page: Page) -> Schema:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": page.max_limit,
        "default": page.default_limit,
        "description": "Items per page.",
    }
