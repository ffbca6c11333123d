"""The compiled tool catalogue: names, schemas, annotations, determinism, compile-time checks."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema
import msgspec
import pytest

from stackmcp.betterstack_worker.api import OPERATIONS, Operation, Page, Param, Resource
from stackmcp.betterstack_worker.catalog import (
    CatalogError,
    compile_catalog,
    default_catalog,
    mcp_tools,
)
from stackmcp.contracts.tools import ToolDescriptor

REQUIRED_NAMES = (
    "list_all_better_stack_incidents",
    "better_stack_incidents_acknowledge",
    "better_stack_incidents_resolve",
    "better_stack_incidents_escalate",
    "list_all_better_stack_on_call_schedules",
    "create_a_better_stack_incident_comment",
    "list_all_better_stack_incident_timeline",
)
STANDARD = {"list", "get", "create", "update", "delete"}
TOOLS = default_catalog().tools
BY_NAME = {t.name: t for t in TOOLS}


def _subschemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The schema and every schema nested in it through ``properties`` and ``items``."""
    yield schema
    for member in schema.get("properties", {}).values():
        yield from _subschemas(member)
    if "items" in schema:
        yield from _subschemas(schema["items"])


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def test_required_names_exist() -> None:
    assert set(REQUIRED_NAMES) <= BY_NAME.keys()


def test_names_are_unique_short_and_well_formed() -> None:
    names = [t.name for t in TOOLS]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"[a-zA-Z0-9_-]+", name), name
        assert len(name) <= 64, name


def test_names_follow_the_pattern_for_their_method() -> None:
    prefixes = {
        "list": "list_all_better_stack_",
        "get": "get_single_better_stack_",
        "create": "create_a_better_stack_",
        "update": "update_a_better_stack_",
        "delete": "delete_a_better_stack_",
    }
    for tool in TOOLS:
        if tool.method in STANDARD:
            assert tool.name.startswith(prefixes[tool.method]), tool.name
            assert tool.name.endswith("_by_id") == (tool.method in {"get", "update", "delete"})
        else:
            assert tool.name.startswith("better_stack_"), tool.name
            assert tool.name.endswith("_" + tool.method), tool.name


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_input_schema_is_a_lean_self_contained_object(tool: ToolDescriptor) -> None:
    """No ``$ref``, no keyword that repeats a default or what the worker enforces anyway
    (``additionalProperties``: unknown arguments are refused with the accepted names)."""
    schema = tool.input_schema
    assert schema["type"] == "object"
    assert isinstance(schema["properties"], dict)
    assert "$ref" not in msgspec.json.encode(schema).decode()
    for sub in _subschemas(schema):
        assert "$defs" not in sub
        assert "additionalProperties" not in sub
        assert sub.get("required", ["x"]), tool.name  # never an empty list
        if "required" in sub:
            assert set(sub["required"]) <= set(sub.get("properties", {})), tool.name
    assert "team_name" not in schema["properties"] or tool.name.endswith("escalate")


def test_every_path_id_says_which_tool_lists_it() -> None:
    """The look-up hint: a model can always find the id it needs."""
    for tool in TOOLS:
        op = default_catalog().operations[tool.name]
        for param in op.params:
            if param.location == "path":
                text = tool.input_schema["properties"][param.name]["description"]
                assert re.search(r"\b(list_all|better_stack)_[a-z_]+", text), (tool.name, text)


def test_tools_list_no_output_schema() -> None:
    """``{"result": object}`` names no field a client could use; the shape is documented in
    :mod:`stackmcp.betterstack_worker.catalog.schemas` and kept by the executor."""
    assert all(tool.output_schema is None for tool in TOOLS)


ID_SCHEMA_KEYS = {"type", "description"}


def _id_properties(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, Any]]:
    for name, member in schema.get("properties", {}).items():
        if name == "id" or name.endswith("_id"):
            yield f"{path}{name}", member
        yield from _id_properties(member, f"{path}{name}.")
        if "items" in member:
            yield from _id_properties(member["items"], f"{path}{name}[].")


def test_every_id_takes_digits_or_an_integer_with_one_schema() -> None:
    """The same shape everywhere, whatever the upstream wants (the worker converts)."""
    seen = 0
    for tool in TOOLS:
        for where, prop in _id_properties(tool.input_schema):
            if where.endswith("google_analytics_id"):
                assert prop["type"] == "string"  # not a Better Stack id
                continue
            seen += 1
            assert set(prop) <= ID_SCHEMA_KEYS, (tool.name, where)
            assert prop["type"] in (["string", "integer"], ["string", "integer", "null"])
    assert seen > 150
    escalate = BY_NAME["better_stack_incidents_escalate"].input_schema["properties"]
    for name in ("incident_id", "schedule_id", "policy_id", "user_id", "team_id"):
        assert escalate[name]["type"] == ["string", "integer"], name


def test_every_list_tool_takes_limit_and_next_cursor() -> None:
    listing = [
        t for t in TOOLS if t.method == "list" or "next_cursor" in t.input_schema["properties"]
    ]
    assert {t.name for t in listing} >= {"list_all_better_stack_incident_timeline"}
    for tool in listing:
        props = tool.input_schema["properties"]
        limit = props["limit"]
        assert limit["type"] == "integer"
        assert 1 == limit["minimum"] <= limit["default"] <= limit["maximum"]
        assert "string" in _types(props["next_cursor"])
        assert not {"page", "per_page"} & props.keys(), tool.name
        assert not {"limit", "next_cursor"} & set(tool.input_schema.get("required", []))


def test_path_ids_are_required_and_shape_checked() -> None:
    """Required in the schema; their shape is checked by the worker (validator and again
    when the path is built), not by a schema pattern."""
    for op in OPERATIONS:
        tool = BY_NAME[compile_catalog([op]).tools[0].name]
        for param in op.params:
            if param.location != "path":
                continue
            assert param.name in tool.input_schema["required"]
            assert param.pattern is not None
            assert re.fullmatch(param.pattern, "123")
            for hostile in ("1/../../monitors", "1?x=", "", "1 ", "../1", "%2e%2e"):
                assert not re.fullmatch(param.pattern, hostile), (tool.name, hostile)
            assert bool(re.fullmatch(param.pattern, "default")) == (
                param.id_kind == "digits_or_default"
            )


def test_on_call_schedule_ids_accept_default() -> None:
    op = default_catalog().operations["get_single_better_stack_on_call_schedule_by_id"]
    (schedule_id,) = [p for p in op.params if p.name == "schedule_id"]
    assert schedule_id.pattern is not None
    assert re.fullmatch(schedule_id.pattern, "default")


def test_update_tools_point_at_the_create_tool_for_shared_fields() -> None:
    update = BY_NAME["update_a_better_stack_monitor_by_id"]
    create = BY_NAME["create_a_better_stack_monitor"]
    assert "Fields as in create_a_better_stack_monitor" in update.description
    assert "description" not in update.input_schema["properties"]["check_frequency"]
    assert "description" in create.input_schema["properties"]["check_frequency"]
    assert "description" in update.input_schema["properties"]["monitor_id"]


def test_method_classes_and_annotations() -> None:
    """Only hints that differ from MCP's defaults, plus destructiveHint on every write; the
    title is not repeated."""
    for tool in TOOLS:
        ann = tool.annotations
        assert ann.title is None
        assert ann.openWorldHint is None  # the default, true
        if tool.method in {"list", "get"}:
            assert tool.method_class == "read"
        if tool.method in {"create", "update", "delete"}:
            assert tool.method_class == "write"
        if tool.method_class == "read":
            assert ann.readOnlyHint is True
            assert ann.destructiveHint is None
            assert ann.idempotentHint is None
        else:
            assert ann.readOnlyHint is None  # the default, false
            assert ann.destructiveHint == ("destructive" in tool.tags)
            assert ann.idempotentHint in (True, None)
        if tool.method in {"delete", "resolve"}:
            assert ann.destructiveHint is True
        if tool.method == "update":
            assert ann.idempotentHint is True


def test_every_tool_has_a_resource_tag_title_and_description() -> None:
    method_tags = {"destructive", "notifies"}
    for tool in TOOLS:
        assert set(tool.tags) - method_tags, tool.name
        assert tool.title, tool.name
        assert tool.description.endswith("."), tool.name


def test_schema_keywords_are_plain_json_schema() -> None:
    allowed = {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "description",
        "enum",
        "format",
        "pattern",
        "minimum",
        "maximum",
        "minItems",
        "items",
        "default",
    }
    for tool in TOOLS:
        for sub in _subschemas(tool.input_schema):
            assert set(sub) <= allowed, (tool.name, set(sub) - allowed)


def test_json_schema_2020_12_validity() -> None:
    validator_cls = jsonschema.Draft202012Validator
    for tool in TOOLS:
        validator_cls.check_schema(tool.input_schema)
    ack = validator_cls(BY_NAME["better_stack_incidents_acknowledge"].input_schema)
    assert ack.is_valid({"incident_id": "42", "acknowledged_by": "sre@example.com"})
    assert ack.is_valid({"incident_id": 42})
    assert not ack.is_valid({"incident_id": True})
    listing = validator_cls(BY_NAME["list_all_better_stack_incidents"].input_schema)
    assert listing.is_valid({"limit": 50, "next_cursor": "abc", "resolved": False})
    assert not listing.is_valid({"limit": 51})


def test_compilation_is_cached_and_consistent() -> None:
    assert default_catalog() is default_catalog()
    again = compile_catalog(OPERATIONS)
    assert again.tools == TOOLS
    assert again.version == default_catalog().version
    assert set(again.operations) == set(BY_NAME)
    assert default_catalog().response().tools == TOOLS


def test_version_and_output_are_stable_across_processes() -> None:
    code = (
        "import hashlib, msgspec;"
        "from stackmcp.betterstack_worker.catalog import default_catalog, mcp_tools;"
        "c = default_catalog();"
        "print(c.version, hashlib.sha256(msgspec.json.encode(mcp_tools(c.tools))).hexdigest())"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        for _ in range(2)
    }
    assert len(runs) == 1
    version, _ = runs.pop().split()
    assert version == default_catalog().version
    assert re.fullmatch(r"[0-9a-f]{64}", version)


def test_version_changes_when_a_tool_changes() -> None:
    first = OPERATIONS[0]
    changed = msgspec.structs.replace(first, description=first.description + " Changed.")
    assert compile_catalog([changed, *OPERATIONS[1:]]).version != default_catalog().version


def test_mcp_wire_form_uses_mcp_member_names() -> None:
    wire = mcp_tools(TOOLS)
    assert [w["name"] for w in wire] == [t.name for t in TOOLS]
    for entry, tool in zip(wire, TOOLS, strict=True):
        assert set(entry) == {"name", "title", "description", "inputSchema", "annotations"}
        assert entry["inputSchema"] == tool.input_schema
        assert "title" not in entry["annotations"]


THING = Resource(singular="thing", plural="things", tags=("things",), label="thing")
THING_ID = Param(
    name="thing_id",
    type="string",
    description="Thing id.",
    location="path",
    required=True,
    pattern="^[0-9]+$",
    id_kind="digits",
)


@pytest.mark.parametrize(
    ("op", "problem"),
    [
        (
            Operation(
                resource=THING,
                method="get",
                http_method="GET",
                path="/things/{thing_id}",
                description="Get.",
                read=True,
            ),
            "path placeholders",
        ),
        (
            Operation(
                resource=THING,
                method="list",
                http_method="GET",
                path="/things",
                description="List.",
                read=True,
                envelope="jsonapi_list",
            ),
            "page policy",
        ),
        (
            Operation(
                resource=THING,
                method="delete",
                http_method="DELETE",
                path="/things/{thing_id}",
                description="Delete.",
                params=(THING_ID, THING_ID),
                envelope="empty",
            ),
            "duplicate parameter",
        ),
        (
            Operation(
                resource=THING,
                method="get",
                http_method="GET",
                path="/things/{thing_id}",
                description="Get.",
                params=(THING_ID,),
            ),
            "must be reads",
        ),
    ],
)
def test_inconsistent_operations_are_refused(op: Operation, problem: str) -> None:
    with pytest.raises(CatalogError, match=problem):
        compile_catalog([op])


def test_duplicate_tool_names_are_refused() -> None:
    with pytest.raises(CatalogError, match="duplicate tool name"):
        compile_catalog([OPERATIONS[0], OPERATIONS[0]])


def test_list_tools_name_the_parameter_that_addresses_one_item() -> None:
    """``item_id`` is the resource's ``<singular>_id`` when a tool takes it as a path id."""
    assert BY_NAME["list_all_better_stack_incidents"].item_id == "incident_id"
    assert BY_NAME["list_all_better_stack_monitors"].item_id == "monitor_id"
    path_ids = {p.name for op in OPERATIONS for p in op.params if p.location == "path"}
    for tool in TOOLS:
        if tool.method != "list":
            assert tool.item_id is None, tool.name
        else:
            op = default_catalog().operations[tool.name]
            expected = f"{op.resource.singular}_id"
            assert tool.item_id == (expected if expected in path_ids else None), tool.name
    # a custom listing of another resource's items names none (its items are monitors)
    assert BY_NAME["better_stack_monitor_groups_list_monitors"].item_id is None


def test_item_id_is_none_without_a_matching_path_parameter() -> None:
    """A list whose ``<singular>_id`` no operation takes has no item id."""
    listing = Operation(
        resource=THING,
        method="list",
        http_method="GET",
        path="/things",
        description="List.",
        read=True,
        envelope="jsonapi_list",
        page=Page(upstream=True),
    )
    getter = Operation(
        resource=THING,
        method="get",
        http_method="GET",
        path="/things/{thing_id}",
        description="Get.",
        params=(THING_ID,),
        read=True,
    )
    assert compile_catalog([listing]).tools[0].item_id is None
    assert compile_catalog([listing, getter]).tools[0].item_id == "thing_id"
