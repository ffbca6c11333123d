"""JSON Schemas (2020-12, self-contained, no ``$ref``) for tool inputs.

Every token of a schema is paid for in every conversation that lists the tool, so the schemas
say what a model needs to call the tool right and nothing more:

* no output schemas: ``{"result": object}`` names no field a client could use. The
  ``structuredContent`` of list tools is ``{"result": [object, ...], "next_cursor": string |
  null}``; of every other tool ``{"result": object}``, where ``result`` is ``null`` for answers
  without a body (deletes, and metadata upserts that removed a key);
* no keyword that repeats a default or that the worker enforces anyway with a clearer message:
  an empty ``required``, ``additionalProperties: false`` (unknown arguments are refused with
  the list of accepted ones), an id's digit pattern;
* every id parameter has one schema, whatever the upstream wants: digits as a string or an
  integer (:data:`ID_TYPES`); its description says where the id comes from.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from stackmcp.betterstack_worker.api import Operation, Page, Param

__all__ = ["ID_TYPES", "input_schema", "param_schema"]

Schema = dict[str, Any]

ID_TYPES = ("string", "integer")
"""The JSON types an id parameter accepts: ``"7"`` and ``7`` name the same item."""


def input_schema(op: Operation, described_elsewhere: Collection[str] = ()) -> Schema:
    """The tool's argument schema: path, query and body params, then ``limit``/``next_cursor``.

    Params named in ``described_elsewhere`` get no descriptions (an update tool's fields are
    described once, on the create tool its description names).
    """
    params = [p for p in op.params if not p.team_default]
    props = {p.name: param_schema(p, described=p.name not in described_elsewhere) for p in params}
    if op.page is not None:
        props["limit"] = _limit_schema(op.page)
        props["next_cursor"] = {"type": ["string", "null"]}
    schema: Schema = {"type": "object", "properties": props}
    required = [p.name for p in params if p.required]
    if required:
        schema["required"] = required
    return schema


def param_schema(param: Param, *, described: bool = True) -> Schema:
    """The schema of one parameter (recursively for arrays and objects; without any
    description when ``described`` is false).

    An id is ``{"type": ["string", "integer"]}`` (plus ``"null"`` when nullable) and its
    description, which says where the id comes from; the worker checks that it is made of
    digits (:class:`~stackmcp.betterstack_worker.execution.arguments.ArgumentValidator`).
    """
    schema: Schema = {"type": _types(param)}
    if described and (param.description or param.guess):
        note = " (unconfirmed)" if param.guess else ""
        schema["description"] = (param.description + note).strip()
    if param.id_kind is not None:
        return schema
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
    if param.properties:
        schema["properties"] = {
            p.name: param_schema(p, described=described) for p in param.properties
        }
        required = [p.name for p in param.properties if p.required]
        if required:
            schema["required"] = required
    return schema


def _types(param: Param) -> str | list[str]:
    if param.id_kind is not None:
        return [*ID_TYPES, "null"] if param.nullable else list(ID_TYPES)
    return [param.type, "null"] if param.nullable else param.type


def _limit_schema(page: Page) -> Schema:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": page.max_limit,
        "default": page.default_limit,
    }
