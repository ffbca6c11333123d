"""JSON Schemas (2020-12, self-contained, no ``$ref``) for tool inputs and outputs.

Output shapes: list tools return ``{"result": [object, ...], "next_cursor": string | null}``;
every other tool returns ``{"result": object}``, where ``result`` is ``null`` for answers without
a body (deletes, and metadata upserts that removed a key).
"""

from __future__ import annotations

from typing import Any

from stackmcp.betterstack_worker.api import Operation, Page, Param

__all__ = ["input_schema", "output_schema", "param_schema"]

Schema = dict[str, Any]

NEXT_CURSOR_IN = "Opaque cursor from the previous result; pass it back unchanged. Omit at first."
NEXT_CURSOR_OUT = "Pass back unchanged as next_cursor for more; null when there is no more."


def input_schema(op: Operation) -> Schema:
    """The tool's argument schema: path, query and body params, then ``limit``/``next_cursor``."""
    props = {p.name: param_schema(p) for p in op.params}
    if op.page is not None:
        props["limit"] = _limit_schema(op.page)
        props["next_cursor"] = {"type": ["string", "null"], "description": NEXT_CURSOR_IN}
    return {
        "type": "object",
        "properties": props,
        "required": [p.name for p in op.params if p.required],
        "additionalProperties": False,
    }


def output_schema(op: Operation) -> Schema:
    """The shape of the tool's ``structuredContent``."""
    if op.page is not None:
        return {
            "type": "object",
            "properties": {
                "result": {"type": "array", "items": {"type": "object"}},
                "next_cursor": {"type": ["string", "null"], "description": NEXT_CURSOR_OUT},
            },
            "required": ["result", "next_cursor"],
        }
    if op.envelope == "empty":
        result: Schema = {"type": "null"}
    elif 204 in op.success:
        result = {"type": ["object", "null"]}
    else:
        result = {"type": "object"}
    return {"type": "object", "properties": {"result": result}, "required": ["result"]}


def param_schema(param: Param, *, described: bool = True) -> Schema:
    """The schema of one parameter (recursively for arrays and objects)."""
    schema: Schema = {"type": [param.type, "null"] if param.nullable else param.type}
    if described:
        note = " (unconfirmed upstream)" if param.guess else ""
        schema["description"] = param.description + note
    if param.enum:
        schema["enum"] = [*param.enum, None] if param.nullable else list(param.enum)
    for key, value in (
        ("format", param.format),
        ("pattern", param.pattern),
        ("minimum", param.minimum),
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


def _object_members(members: tuple[Param, ...]) -> Schema:
    return {
        "properties": {p.name: param_schema(p) for p in members},
        "required": [p.name for p in members if p.required],
        "additionalProperties": False,
    }


def _limit_schema(page: Page) -> Schema:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": page.max_limit,
        "default": page.default_limit,
        "description": f"Most items to return, 1-{page.max_limit} (default {page.default_limit}).",
    }
