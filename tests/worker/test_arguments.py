"""Tool-call argument validation: each rule, and agreement with JSON Schema on every tool."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from stackmcp.betterstack_worker.api import Operation, Page, Param, Resource
from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.betterstack_worker.execution.arguments import ArgumentValidator

DIGITS = r"^[0-9]+$"
DIGITS_OR_DEFAULT = r"^([0-9]+|default)$"
HHMMSS = r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"

LIST_INCIDENTS = "list_all_better_stack_incidents"
ACKNOWLEDGE = "better_stack_incidents_acknowledge"
COMMENT = "create_a_better_stack_incident_comment"
CREATE_EVENT = "create_a_better_stack_on_call_event"
CREATE_ROTATION = "better_stack_on_call_schedules_create_rotation"
CREATE_POLICY = "create_a_better_stack_escalation_policy"
CREATE_MONITOR = "create_a_better_stack_monitor"
CREATE_STATUS_PAGE = "create_a_better_stack_status_page"
CREATE_INCIDENT = "create_a_better_stack_incident"
METADATA_UPSERT = "better_stack_metadata_upsert"

TOOLS = default_catalog().tools
TOOL_NAMES = [tool.name for tool in TOOLS]
SCHEMAS = {tool.name: tool.input_schema for tool in TOOLS}


def validator(tool: str) -> ArgumentValidator:
    return ArgumentValidator(default_catalog().operations[tool])


def errors_of(tool: str, arguments: dict[str, Any]) -> dict[str, list[str]]:
    return validator(tool).validate(arguments)


def synthetic(*params: Param, page: Page | None = None) -> ArgumentValidator:
    """A validator for a made-up operation (for rules the catalogue does not use yet)."""
    op = Operation(
        resource=Resource(singular="thing", plural="things", tags=("things",), label="thing"),
        method="create",
        http_method="POST",
        path="/api/v2/things",
        description="Make a thing.",
        params=params,
        page=page,
    )
    return ArgumentValidator(op)


# --- targeted rules ------------------------------------------------------------------------


def test_valid_arguments_give_no_errors() -> None:
    assert errors_of(LIST_INCIDENTS, {"resolved": False, "limit": 5}) == {}
    assert errors_of(LIST_INCIDENTS, {}) == {}
    assert errors_of(ACKNOWLEDGE, {"incident_id": "42"}) == {}
    assert errors_of(COMMENT, {"incident_id": "42", "content": "on it"}) == {}


def test_unknown_argument_lists_the_accepted_names_sorted() -> None:
    errors = errors_of(LIST_INCIDENTS, {"resolved": False, "status": "open"})
    assert errors == {
        "status": [
            "unknown argument; this tool takes: acknowledged, from, heartbeat_id, limit, "
            "metadata, monitor_id, next_cursor, resolved, to"
        ]
    }
    assert validator(LIST_INCIDENTS).names == tuple(sorted(SCHEMAS[LIST_INCIDENTS]["properties"]))


def test_unknown_argument_on_a_tool_without_arguments() -> None:
    errors = synthetic().validate({"x": 1})
    assert errors == {"x": ["unknown argument; this tool takes no arguments"]}


def test_missing_required_arguments() -> None:
    assert errors_of(ACKNOWLEDGE, {}) == {"incident_id": ["is required"]}
    assert errors_of(COMMENT, {"content": "hi"}) == {"incident_id": ["is required"]}
    assert set(errors_of(COMMENT, {})) == {"incident_id", "content"}


def test_null_for_a_required_non_nullable_argument_is_a_type_error() -> None:
    assert errors_of(ACKNOWLEDGE, {"incident_id": None}) == {
        "incident_id": ['must be an id made of digits, e.g. "7" or 7; got null']
    }
    assert errors_of(COMMENT, {"incident_id": "1", "content": None}) == {
        "content": ["must be a string, got null"]
    }


def test_digits_id_pattern_has_a_friendly_message() -> None:
    errors = errors_of(ACKNOWLEDGE, {"incident_id": "INC-7"})
    assert list(errors) == ["incident_id"]
    (message,) = errors["incident_id"]
    assert message.startswith('must be an id made of digits, e.g. "7"')
    assert '"INC-7"' in message
    assert errors_of(ACKNOWLEDGE, {"incident_id": "0123"}) == {}


def test_digits_pattern_rejects_a_trailing_newline_like_ecma_regexes() -> None:
    assert list(errors_of(ACKNOWLEDGE, {"incident_id": "7\n"})) == ["incident_id"]


def test_digits_or_default_pattern() -> None:
    assert errors_of(CREATE_EVENT, event(schedule_id="default")) == {}
    assert errors_of(CREATE_EVENT, event(schedule_id="12")) == {}
    errors = errors_of(CREATE_EVENT, event(schedule_id="main"))
    assert list(errors) == ["schedule_id"]
    assert errors["schedule_id"][0].startswith(
        'must be an id made of digits, e.g. "7" or 7, or "default"'
    )
    assert errors_of(CREATE_EVENT, event(schedule_id=12)) == {}


# --- ids: digits as a string or an integer ----------------------------------------------

ESCALATE = "better_stack_incidents_escalate"
CREATE_POLICY_IDS = {"name": "Tier 2", "steps": [{"type": "escalation", "urgency_id": "4"}]}


@pytest.mark.parametrize("value", ["7", 7, 7.0, "0123", 0])
def test_every_id_takes_digits_or_an_integer(value: Any) -> None:
    assert errors_of(ACKNOWLEDGE, {"incident_id": value}) == {}
    escalate = {"incident_id": "1", "escalation_type": "Schedule", "schedule_id": value}
    assert errors_of(ESCALATE, escalate) == {}
    assert errors_of(CREATE_INCIDENT, incident(policy_id=value)) == {}


@pytest.mark.parametrize("value", [-1, "-1", "7a", "", 7.5, True, [7], {"id": 7}])
def test_ids_refuse_anything_else(value: Any) -> None:
    escalate = {"incident_id": "1", "escalation_type": "Policy", "policy_id": value}
    errors = errors_of(ESCALATE, escalate)
    assert list(errors) == ["policy_id"]
    assert errors["policy_id"][0].startswith('must be an id made of digits, e.g. "7" or 7; got')


def test_nullable_ids_take_null() -> None:
    assert errors_of(CREATE_MONITOR, monitor(monitor_group_id=None, policy_id=None)) == {}
    errors = errors_of(CREATE_MONITOR, monitor(monitor_group_id="x"))
    assert errors == {
        "monitor_group_id": ['must be an id made of digits, e.g. "7" or 7 or null; got "x"']
    }


def test_normalise_puts_each_id_in_the_form_the_upstream_wants() -> None:
    escalate = validator(ESCALATE)
    given = {"incident_id": 7, "escalation_type": "User", "user_id": "12", "call": True}
    assert escalate.normalise(given) == {
        "incident_id": "7",  # a path segment
        "escalation_type": "User",
        "user_id": 12,  # the API takes an integer
        "call": True,
    }
    # policy_id of a new incident is a string upstream
    assert validator(CREATE_INCIDENT).normalise({"policy_id": 3}) == {"policy_id": "3"}
    assert validator(CREATE_INCIDENT).normalise({"policy_id": 3.0}) == {"policy_id": "3"}


def test_normalise_reaches_nested_ids_and_leaves_invalid_values_for_validate() -> None:
    policy = validator(CREATE_POLICY)
    steps = [
        {
            "type": "escalation",
            "urgency_id": "4",
            "step_members": [{"type": "user", "id": "9"}, {"type": "user", "id": "x"}],
        },
        "not a step",
    ]
    assert policy.normalise({"name": "P", "steps": steps, "policy_group_id": None}) == {
        "name": "P",
        "steps": [
            {
                "type": "escalation",
                "urgency_id": 4,
                "step_members": [{"type": "user", "id": 9}, {"type": "user", "id": "x"}],
            },
            "not a step",
        ],
        "policy_group_id": None,
    }
    odd = {"incident_id": -3, "escalation_type": "User", "user_id": "12a"}
    assert validator(ESCALATE).normalise(odd) == odd


def test_normalise_returns_arguments_without_ids_unchanged() -> None:
    arguments = {"resolved": False}
    assert validator(LIST_INCIDENTS).normalise(arguments) is arguments
    assert validator(COMMENT).normalise({"content": "x"}) == {"content": "x"}


def test_other_patterns_show_the_pattern() -> None:
    assert errors_of(CREATE_MONITOR, monitor(maintenance_from="23:59:59")) == {}
    errors = errors_of(CREATE_MONITOR, monitor(maintenance_from="24:00:00"))
    assert list(errors) == ["maintenance_from"]
    assert HHMMSS in errors["maintenance_from"][0]
    plain = synthetic(Param(name="code", type="string", description="x", pattern="^[A-Z]{3}$"))
    assert plain.validate({"code": "abc"}) == {
        "code": ['must match the pattern ^[A-Z]{3}$; got "abc"']
    }
    assert plain.validate({"code": "ABC"}) == {}


def test_boolean_type() -> None:
    assert errors_of(LIST_INCIDENTS, {"resolved": "false"}) == {
        "resolved": ['must be true or false, got "false"']
    }
    assert list(errors_of(LIST_INCIDENTS, {"resolved": 0})) == ["resolved"]


def test_integer_type_follows_json_schema() -> None:
    v = synthetic(Param(name="count", type="integer", description="x"))
    assert v.validate({"count": 3}) == {}
    assert v.validate({"count": 3.0}) == {}
    assert v.validate({"count": 3.5}) == {"count": ["must be an integer, got 3.5"]}
    assert v.validate({"count": True}) == {"count": ["must be an integer, got true"]}
    assert v.validate({"count": "3"}) == {"count": ['must be an integer, got "3"']}


def test_number_type_accepts_ints_and_floats_but_not_bools() -> None:
    v = synthetic(Param(name="ratio", type="number", description="x", minimum=0, maximum=1))
    assert v.validate({"ratio": 0.5}) == {}
    assert v.validate({"ratio": 1}) == {}
    assert v.validate({"ratio": False}) == {"ratio": ["must be a number, got false"]}
    assert v.validate({"ratio": "0.5"}) == {"ratio": ['must be a number, got "0.5"']}
    assert v.validate({"ratio": 1.5}) == {"ratio": ["must be at most 1, got 1.5"]}


def test_string_array_and_object_types() -> None:
    assert errors_of(COMMENT, {"incident_id": "1", "content": 5}) == {
        "content": ["must be a string, got 5"]
    }
    assert errors_of(CREATE_EVENT, event(users="a@b.co")) == {
        "users": ['must be an array, got "a@b.co"']
    }
    assert errors_of(LIST_INCIDENTS, {"metadata": ["Service"]}) == {
        "metadata": ["must be an object, got an array"]
    }


def test_nullable_accepts_null() -> None:
    assert errors_of(CREATE_INCIDENT, incident(team_wait=None)) == {}
    assert errors_of(CREATE_INCIDENT, incident(team_wait="60")) == {
        "team_wait": ['must be an integer or null, got "60"']
    }


def test_enum() -> None:
    errors = errors_of(CREATE_ROTATION, rotation(rotation_interval="month"))
    assert errors == {"rotation_interval": ['must be one of: hour, day, week; got "month"']}
    assert errors_of(CREATE_ROTATION, rotation(rotation_interval="week")) == {}


def test_nullable_integer_enum() -> None:
    assert errors_of(CREATE_MONITOR, monitor(ssl_expiration=None)) == {}
    assert errors_of(CREATE_MONITOR, monitor(ssl_expiration=14)) == {}
    assert errors_of(CREATE_MONITOR, monitor(ssl_expiration=14.0)) == {}
    assert errors_of(CREATE_MONITOR, monitor(ssl_expiration=5)) == {
        "ssl_expiration": ["must be one of: 1, 2, 3, 7, 14, 30, 60, null; got 5"]
    }


def test_enum_does_not_confuse_true_with_one() -> None:
    v = synthetic(Param(name="n", type="integer", description="x", enum=(1, 2)))
    assert v.validate({"n": 1}) == {}
    assert list(v.validate({"n": True})) == ["n"]


def test_minimum_and_maximum() -> None:
    assert errors_of(CREATE_ROTATION, rotation(rotation_length=0)) == {
        "rotation_length": ["must be at least 1, got 0"]
    }
    assert errors_of(CREATE_POLICY, {"name": "p", "repeat_count": 0}) == {}
    assert errors_of(CREATE_POLICY, {"name": "p", "repeat_count": -1}) == {
        "repeat_count": ["must be at least 0, got -1"]
    }


def test_limit_and_next_cursor_of_list_tools() -> None:
    max_limit = SCHEMAS[LIST_INCIDENTS]["properties"]["limit"]["maximum"]
    assert errors_of(LIST_INCIDENTS, {"limit": 1}) == {}
    assert errors_of(LIST_INCIDENTS, {"limit": max_limit}) == {}
    assert errors_of(LIST_INCIDENTS, {"limit": 0}) == {"limit": ["must be at least 1, got 0"]}
    assert errors_of(LIST_INCIDENTS, {"limit": max_limit + 1}) == {
        "limit": [f"must be at most {max_limit}, got {max_limit + 1}"]
    }
    assert errors_of(LIST_INCIDENTS, {"limit": "5"}) == {"limit": ['must be an integer, got "5"']}
    assert errors_of(LIST_INCIDENTS, {"next_cursor": None}) == {}
    assert errors_of(LIST_INCIDENTS, {"next_cursor": "abc"}) == {}
    assert errors_of(LIST_INCIDENTS, {"next_cursor": 5}) == {
        "next_cursor": ["must be a string or null, got 5"]
    }
    assert "limit" in errors_of(ACKNOWLEDGE, {"incident_id": "1", "limit": 5})


def test_min_items_and_array_items() -> None:
    assert errors_of(CREATE_EVENT, event(users=[])) == {"users": ["must not be empty"]}
    errors = errors_of(CREATE_EVENT, event(users=["jane@example.com", "bob"]))
    assert list(errors) == ["users[1]"]
    assert errors["users[1]"][0].startswith("must be an e-mail address")
    two = synthetic(Param(name="tags", type="array", description="x", min_items=2))
    assert two.validate({"tags": [1]}) == {"tags": ["must have at least 2 items"]}


def test_nested_objects_in_arrays() -> None:
    steps = [
        {"type": "escalation", "wait_before": 0, "step_members": [{"type": "current_on_call"}]},
        {"type": "escalation", "wait_before": -5},
    ]
    errors = errors_of(CREATE_POLICY, {"name": "p", "steps": steps})
    assert errors == {"steps[1].wait_before": ["must be at least 0, got -5"]}

    steps = [{"type": "escalation", "step_members": [{"id": 3, "colour": "red"}]}]
    errors = errors_of(CREATE_POLICY, {"name": "p", "steps": steps})
    assert set(errors) == {"steps[0].step_members[0].type", "steps[0].step_members[0].colour"}
    assert errors["steps[0].step_members[0].type"] == ["is required"]
    (unknown,) = errors["steps[0].step_members[0].colour"]
    assert unknown.startswith("unknown member; this object takes: email, id, metadata_key,")

    steps = [{"type": "instructions", "step_members": [{"type": "boss"}]}]
    errors = errors_of(CREATE_POLICY, {"name": "p", "steps": steps})
    assert list(errors) == ["steps[0].step_members[0].type"]
    assert errors["steps[0].step_members[0].type"][0].startswith("must be one of: current_on_call")


def test_open_objects_accept_any_member_but_check_known_ones() -> None:
    # A step is an open object: unknown members pass, but its required "type" is enforced.
    steps = [{"type": "escalation", "note": "extra"}, {"wait_before": 10}]
    assert errors_of(CREATE_POLICY, {"name": "p", "steps": steps}) == {
        "steps[1].type": ["is required"]
    }
    steps = [{"type": "escalation", "wait_before": "10"}]
    assert errors_of(CREATE_POLICY, {"name": "p", "steps": steps}) == {
        "steps[0].wait_before": ['must be an integer, got "10"']
    }
    assert errors_of(LIST_INCIDENTS, {"metadata": {"Service": "api", "n": [1, {}]}}) == {}


def test_closed_object_requires_its_required_members() -> None:
    errors = errors_of(METADATA_UPSERT, metadata_upsert(values=[{"value": "x"}]))
    assert errors == {"values[0].type": ["is required"]}


def test_known_members_of_open_objects_are_checked() -> None:
    v = synthetic(
        Param(
            name="labels",
            type="object",
            description="x",
            open_object=True,
            properties=(Param(name="Service", type="string", description="x", enum=("api",)),),
        )
    )
    assert v.validate({"labels": {"Service": "api", "Owner": "me"}}) == {}
    assert v.validate({"labels": {"Service": "web"}}) == {
        "labels.Service": ['must be one of: api; got "web"']
    }


def test_date_format() -> None:
    assert errors_of(LIST_INCIDENTS, {"from": "2024-02-29"}) == {}
    for bad in (
        "2023-02-29",
        "2024-13-01",
        "20240531",
        "2024-5-31",
        "31/05/2024",
        "2024-05-31T00:00:00Z",
    ):
        errors = errors_of(LIST_INCIDENTS, {"from": bad})
        assert list(errors) == ["from"], bad
        assert errors["from"][0].startswith("must be a date as YYYY-MM-DD")


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-31T14:00:00Z",
        "2024-05-31t14:00:00z",
        "2024-05-31T14:00:00.123456Z",
        "2024-05-31T14:00:00+02:00",
        "2024-12-31T23:59:59-11:30",
    ],
)
def test_date_time_format_accepts_rfc3339(value: str) -> None:
    assert errors_of(CREATE_EVENT, event(starts_at=value)) == {}


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-31T14:00Z",
        "2024-05-31 14:00:00Z",
        "2024-05-31T14:00:00",
        "2024-05-31T24:00:00Z",
        "2024-02-30T10:00:00Z",
        "2024-05-31T14:00:00+0200",
        "2024-05-31",
        "tomorrow at noon",
    ],
)
def test_date_time_format_rejects_other_shapes(value: str) -> None:
    errors = errors_of(CREATE_EVENT, event(starts_at=value))
    assert list(errors) == ["starts_at"]
    assert "RFC 3339" in errors["starts_at"][0]


def test_time_format() -> None:
    v = synthetic(Param(name="at", type="string", description="x", format="time"))
    for good in ("14:00:00", "00:00:00.5", "23:59:59Z", "08:15:00+01:00"):
        assert v.validate({"at": good}) == {}, good
    for bad in ("14:00", "2pm", "24:00:00", "14:00:00 UTC"):
        assert list(v.validate({"at": bad})) == ["at"], bad


def test_email_format() -> None:
    assert errors_of(CREATE_INCIDENT, incident(requester_email="jane.doe+x@example.co.uk")) == {}
    for bad in ("jane", "jane@example", "jane doe@example.com", "@example.com", "jane@.com"):
        errors = errors_of(CREATE_INCIDENT, incident(requester_email=bad))
        assert list(errors) == ["requester_email"], bad
        assert errors["requester_email"][0].startswith("must be an e-mail address")


def test_uri_format() -> None:
    for good in ("https://example.com", "https://example.com/a?b=c#d", "mailto:ops@example.com"):
        assert errors_of(CREATE_STATUS_PAGE, status_page(company_url=good)) == {}, good
    for bad in ("example.com", "https://exa mple.com", "https:", "/relative/path", "1http://x"):
        errors = errors_of(CREATE_STATUS_PAGE, status_page(company_url=bad))
        assert list(errors) == ["company_url"], bad
        assert errors["company_url"][0].startswith("must be an absolute URI")


def test_unknown_format_is_refused_when_the_validator_is_built() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        synthetic(Param(name="x", type="string", description="x", format="ipv4"))


def test_long_values_are_not_echoed() -> None:
    long = "x" * 500
    for tool, arguments in (
        (ACKNOWLEDGE, {"incident_id": long}),
        (LIST_INCIDENTS, {"from": long}),
        (LIST_INCIDENTS, {"monitor_id": long}),
        (CREATE_ROTATION, rotation(rotation_interval=long)),
        (LIST_INCIDENTS, {"limit": 10**200}),
    ):
        errors = errors_of(tool, arguments)
        (messages,) = errors.values()
        for message in messages:
            assert "x" * 41 not in message
            assert len(message) < 160, message


def test_several_errors_are_reported_together() -> None:
    errors = errors_of(
        LIST_INCIDENTS, {"resolved": "yes", "limit": 0, "from": "yesterday", "bogus": 1}
    )
    assert set(errors) == {"resolved", "limit", "from", "bogus"}


def test_validate_compiles_no_regex(monkeypatch: pytest.MonkeyPatch) -> None:
    v = validator(CREATE_EVENT)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled a regex per call")

    monkeypatch.setattr(re, "compile", refuse)
    monkeypatch.setattr(re, "search", refuse)
    monkeypatch.setattr(re, "match", refuse)
    monkeypatch.setattr(re, "fullmatch", refuse)
    assert v.validate(event()) == {}
    assert set(v.validate(event(schedule_id="x", starts_at="y", users=["z"]))) == {
        "schedule_id",
        "starts_at",
        "users[0]",
    }


def test_every_operation_gets_a_validator() -> None:
    for name, op in default_catalog().operations.items():
        assert set(ArgumentValidator(op).names) == set(SCHEMAS[name]["properties"]), name


# --- valid argument sets for the targeted tests --------------------------------------------


def event(**changes: Any) -> dict[str, Any]:
    return {
        "schedule_id": "default",
        "starts_at": "2030-01-01T09:00:00Z",
        "ends_at": "2030-01-01T17:00:00Z",
        "users": ["jane@example.com"],
        **changes,
    }


def rotation(**changes: Any) -> dict[str, Any]:
    return {
        "schedule_id": "5",
        "users": ["jane@example.com"],
        "rotation_length": 1,
        "rotation_interval": "week",
        "start_rotations_at": "2030-01-01T09:00:00Z",
        "end_rotations_at": "2030-06-01T09:00:00Z",
        **changes,
    }


def monitor(**changes: Any) -> dict[str, Any]:
    return {**example(SCHEMAS[CREATE_MONITOR], full=False), **changes}


def incident(**changes: Any) -> dict[str, Any]:
    return {**example(SCHEMAS[CREATE_INCIDENT], full=False), **changes}


def status_page(**changes: Any) -> dict[str, Any]:
    return {**example(SCHEMAS[CREATE_STATUS_PAGE], full=False), **changes}


def metadata_upsert(**changes: Any) -> dict[str, Any]:
    return {**example(SCHEMAS[METADATA_UPSERT], full=False), **changes}


# --- agreement with JSON Schema on every tool ----------------------------------------------

PATTERN_EXAMPLES = {DIGITS: "7", DIGITS_OR_DEFAULT: "default", HHMMSS: "09:30:00"}
PATTERN_BREAKERS = {DIGITS: "seven", DIGITS_OR_DEFAULT: "main", HHMMSS: "9:30"}
FORMAT_EXAMPLES = {
    "date": "2030-01-31",
    "date-time": "2030-01-31T09:30:00Z",
    "time": "09:30:00",
    "email": "jane@example.com",
    "uri": "https://example.com/hook",
}
FORMAT_BREAKERS = {
    "date": "31/01/2030",
    "date-time": "2030-01-31 09:30",
    "time": "half past nine",
    "email": "jane at example.com",
    "uri": "example.com/hook",
}
WRONG_TYPE: dict[str, Any] = {
    "id": True,
    "string": 12345,
    "integer": "12",
    "number": "12.5",
    "boolean": "true",
    "array": "a, b",
    "object": ["a"],
}
JSON_SCHEMA_CHECKS = set(Draft202012Validator.FORMAT_CHECKER.checkers)

Path = tuple[str | int, ...]


def kind_of(schema: dict[str, Any]) -> str:
    """The schema's JSON type; ``id`` for the id schema (digits as a string, or an integer)."""
    types = schema["type"]
    if isinstance(types, list):
        return "id" if {"string", "integer"} <= set(types) else str(types[0])
    return str(types)


def nullable(schema: dict[str, Any]) -> bool:
    return isinstance(schema["type"], list) and "null" in schema["type"]


def example(schema: dict[str, Any], *, full: bool) -> Any:
    """A valid value: ``full`` sets every known member, otherwise only the required ones."""
    kind = kind_of(schema)
    value: Any
    if "enum" in schema:
        value = next(e for e in schema["enum"] if e is not None)
    elif kind == "id":
        value = "7"
    elif kind == "string":
        value = string_example(schema)
    elif kind in ("integer", "number"):
        value = schema.get("minimum", 1)
        assert value <= schema.get("maximum", value)
    elif kind == "boolean":
        value = True
    elif kind == "array":
        count = max(schema.get("minItems", 0), 1 if full else 0)
        value = [example(schema["items"], full=full) for _ in range(count)]
    else:
        assert kind == "object"
        members = schema.get("properties", {})
        names = list(members) if full else schema.get("required", [])
        value = {name: example(members[name], full=full) for name in names}
        if full and "properties" not in schema:  # a free-form object (a tool's are closed)
            value = {"Key": "value"}
    return value


def string_example(schema: dict[str, Any]) -> str:
    if "pattern" in schema:
        assert schema["pattern"] in PATTERN_EXAMPLES, f"teach the test {schema['pattern']}"
        return PATTERN_EXAMPLES[schema["pattern"]]
    return FORMAT_EXAMPLES[schema["format"]] if "format" in schema else "text"


def locations(schema: dict[str, Any], value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (path, schema) in ``value``, outermost first."""
    yield path, schema
    kind = kind_of(schema)
    if kind == "array":
        for index, element in enumerate(value):
            yield from locations(schema["items"], element, (*path, index))
    elif kind == "object":
        members = schema.get("properties", {})
        for name, member in value.items():
            if name in members:
                yield from locations(members[name], member, (*path, name))


def render(path: Path) -> str:
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += f".{key}" if text else key
    return text


def replaced(document: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def dropped(document: dict[str, Any], path: Path) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return changed


def mutations(schema: dict[str, Any], document: dict[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """(what, invalid document, the one error key expected) for each rule at each location."""
    for path, sub in locations(schema, document):
        key = render(path)
        kind = kind_of(sub)
        if path:
            yield "wrong type", replaced(document, path, WRONG_TYPE[kind]), key
        if "enum" in sub:
            outside = "not-a-choice" if kind == "string" else 999_999
            yield "enum", replaced(document, path, outside), key
        if "pattern" in sub:
            yield "pattern", replaced(document, path, PATTERN_BREAKERS[sub["pattern"]]), key
        if "format" in sub and sub["format"] in JSON_SCHEMA_CHECKS:
            yield "format", replaced(document, path, FORMAT_BREAKERS[sub["format"]]), key
        if "minimum" in sub:
            yield "minimum", replaced(document, path, sub["minimum"] - 1), key
        if "maximum" in sub:
            yield "maximum", replaced(document, path, sub["maximum"] + 1), key
        if sub.get("minItems", 0) >= 1:
            yield "minItems", replaced(document, path, []), key
        if kind == "object" and sub.get("additionalProperties") is False:
            bogus = render((*path, "bogus_member"))
            yield "unknown member", replaced(document, (*path, "bogus_member"), 1), bogus
            for name in sub.get("required", []):
                yield f"drop {name}", dropped(document, (*path, name)), render((*path, name))


def accepted_variants(schema: dict[str, Any], document: dict[str, Any]) -> Iterator[Any]:
    """Valid documents besides ``document``: null where null is allowed, other enum values."""
    for path, sub in locations(schema, document):
        if path and nullable(sub):
            yield replaced(document, path, None)
        if path and "enum" in sub:
            for choice in sub["enum"][1:]:
                yield replaced(document, path, choice)
        if path and kind_of(sub) == "id":
            yield replaced(document, path, 7)  # an id also comes as an integer


@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_validator_agrees_with_the_input_schema(tool: str) -> None:
    schema = SCHEMAS[tool]
    reference = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    ours = validator(tool)

    minimal = example(schema, full=False)
    full = example(schema, full=True)
    for document in (minimal, full, *accepted_variants(schema, full)):
        assert reference.is_valid(document), document
        assert ours.validate(document) == {}, document

    checked = 0
    for base in (minimal, full):
        for what, document, key in mutations(schema, base):
            assert not reference.is_valid(document), (what, key)
            errors = ours.validate(document)
            assert set(errors) == {key}, (what, errors)
            assert all(errors[key]), (what, errors)
            checked += 1
    assert checked >= 1 or not schema["properties"]  # a tool without arguments has no rule


@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_validator_enforces_formats_json_schema_only_annotates(tool: str) -> None:
    schema = SCHEMAS[tool]
    ours = validator(tool)
    full = example(schema, full=True)
    for path, sub in locations(schema, full):
        if "format" in sub:
            document = replaced(full, path, FORMAT_BREAKERS[sub["format"]])
            assert set(ours.validate(document)) == {render(path)}, path


def test_every_pattern_and_format_in_the_catalogue_is_known_to_this_test() -> None:
    seen_patterns: set[str] = set()
    seen_formats: set[str] = set()
    for tool in TOOL_NAMES:
        schema = SCHEMAS[tool]
        for _, sub in locations(schema, example(schema, full=True)):
            seen_patterns.update([sub["pattern"]] if "pattern" in sub else [])
            seen_formats.update([sub["format"]] if "format" in sub else [])
    assert seen_patterns <= set(PATTERN_EXAMPLES)
    assert seen_formats <= set(FORMAT_EXAMPLES)
    assert HHMMSS in seen_patterns


@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_the_validator_also_enforces_what_the_lean_schema_leaves_out(tool: str) -> None:
    """Unknown arguments and ids that are not digits (or are negative) are refused, though
    the schema, kept lean for the model's context, does not say so."""
    schema = SCHEMAS[tool]
    ours = validator(tool)
    full = example(schema, full=True)
    assert ours.validate({**full, "bogus_argument": 1}) == {
        "bogus_argument": [ours.validate({"bogus_argument": 1})["bogus_argument"][0]]
    }
    for path, sub in locations(schema, full):
        if path and kind_of(sub) == "id":
            for bad in ("seven", -1, "7/../1"):
                assert set(ours.validate(replaced(full, path, bad))) == {render(path)}
