"""Ids either way: every id argument takes ``"7"`` or ``7`` and reaches Better Stack as the API
wants it (path segments and string ids as text, integer ids as JSON integers); results keep the
API's string ids."""

from __future__ import annotations

from typing import Any

import pytest

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.betterstack_worker.execution.arguments import ArgumentValidator
from stackmcp.betterstack_worker.execution.requests import RequestPlan
from stackmcp.contracts.grants import Grant, Pin
from stackmcp.contracts.policy import canonical_arguments, expose, pin_problem
from tests.support.sandbox import RunningSandbox
from tests.support.worker import WorkerHarness
from tests.worker.grant_calls import call, ok, requests_seen

CATALOG = default_catalog()
ESCALATE = "better_stack_incidents_escalate"
GET_INCIDENT = "get_single_better_stack_incident_by_id"
TIMELINE = "list_all_better_stack_incident_timeline"


def built(tool: str, arguments: dict[str, Any]) -> Any:
    """The upstream request for ``arguments`` as the executor builds it (normalised first)."""
    op = CATALOG.operations[tool]
    given = ArgumentValidator(op).normalise(arguments)
    assert ArgumentValidator(op).validate(given) == {}
    return RequestPlan(op).build(given)


@pytest.mark.parametrize("schedule_id", ["2", 2])
@pytest.mark.parametrize("incident_id", ["7", 7])
def test_escalate_sends_integer_ids_as_integers(incident_id: Any, schedule_id: Any) -> None:
    request = built(
        ESCALATE,
        {"incident_id": incident_id, "escalation_type": "Schedule", "schedule_id": schedule_id},
    )
    assert request.path == "/api/v3/incidents/7/escalate"
    assert request.body == {"escalation_type": "Schedule", "schedule_id": 2}


def test_string_ids_stay_strings_upstream() -> None:
    """The API takes a new incident's policy_id and a metadata owner_id as strings."""
    incident = built("create_a_better_stack_incident", {"name": "x", "policy_id": 3})
    assert incident.body == {"name": "x", "policy_id": "3"}
    metadata = built(
        "better_stack_metadata_upsert",
        {"owner_id": 2, "owner_type": "Monitor", "key": "Service", "values": []},
    )
    assert metadata.body is not None
    assert metadata.body["owner_id"] == "2"
    listing = built("list_all_better_stack_incidents", {"monitor_id": "2"})
    assert listing.query == [("monitor_id", "2")]


def test_nested_ids_are_converted() -> None:
    step = {"type": "escalation", "urgency_id": "4", "step_members": [{"type": "user", "id": "9"}]}
    request = built(
        "create_a_better_stack_escalation_policy",
        {"name": "Tier 2", "steps": [step], "fallback_policy_id": "1"},
    )
    assert request.body == {
        "name": "Tier 2",
        "steps": [
            {"type": "escalation", "urgency_id": 4, "step_members": [{"type": "user", "id": 9}]}
        ],
        "fallback_policy_id": 1,
    }


# --- pins and confirmation: 7 and "7" are the same value -----------------------------------

PIN = (Pin(param="incident_id", values=("7",)),)


def test_a_pinned_id_lists_both_forms_and_accepts_both() -> None:
    grant = Grant(server_id="s", account_id="a", methods=("read", "write"), pin=PIN)
    exposed = {t.name: t for t in expose(CATALOG.tools, grant).tools}
    prop = exposed[GET_INCIDENT].input_schema["properties"]["incident_id"]
    assert prop["enum"] == ["7", 7]
    tool = exposed[GET_INCIDENT]
    for value in ("7", 7, 7.0):
        assert pin_problem(tool, {"incident_id": value}, PIN) is None, value
    for value in ("6", 6, "07"):
        assert pin_problem(tool, {"incident_id": value}, PIN) is not None, value


def test_a_pin_that_is_not_digits_stays_text() -> None:
    pins = (Pin(param="schedule_id", values=("default", "2")),)
    grant = Grant(server_id="s", account_id="a", methods=("read",), pin=pins)
    (tool,) = [
        t
        for t in expose(CATALOG.tools, grant).tools
        if t.name == "get_single_better_stack_on_call_schedule_by_id"
    ]
    assert tool.input_schema["properties"]["schedule_id"]["enum"] == ["default", "2", 2]


def test_confirmation_digests_agree_on_either_form() -> None:
    assert canonical_arguments({"incident_id": 7}) == canonical_arguments({"incident_id": "7"})
    nested = {"steps": [{"urgency_id": 4, "wait_before": 0}], "paused": True}
    same = {"paused": True, "steps": [{"wait_before": "0", "urgency_id": "4"}]}
    assert canonical_arguments(nested) == canonical_arguments(same)
    assert canonical_arguments({"incident_id": 7}) != canonical_arguments({"incident_id": "07"})
    assert canonical_arguments({"paused": True}) != canonical_arguments({"paused": 1})


# --- through the worker, against the sandbox -----------------------------------------------


@pytest.mark.integration
async def test_integer_ids_work_end_to_end_and_results_keep_string_ids(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    as_number = ok(await call(worker, GET_INCIDENT, {"incident_id": 7}))
    as_text = ok(await call(worker, GET_INCIDENT, {"incident_id": "7"}))
    assert as_number == as_text
    assert as_number["result"]["id"] == "7"
    escalated = await call(
        worker, ESCALATE, {"incident_id": 4, "escalation_type": "Schedule", "schedule_id": 2}
    )
    assert ok(escalated)["result"]["id"] == "4"
    paths = [r["path"] for r in requests_seen(sandbox_api)]
    assert paths[:3] == [
        "/api/v3/incidents/7",
        "/api/v3/incidents/7",
        "/api/v3/incidents/4/escalate",
    ]
    assert paths[3:] == ["/api/v2/on-calls/2"]  # who the escalation notified


@pytest.mark.integration
async def test_a_pinned_server_accepts_the_pinned_id_as_a_number(
    worker: WorkerHarness,
) -> None:
    pinned = ok(await call(worker, GET_INCIDENT, {"incident_id": 7}, pin=PIN))
    assert pinned["result"]["id"] == "7"
    other = await call(worker, GET_INCIDENT, {"incident_id": 6}, pin=PIN)
    assert other.is_error
    assert "not 6" in other.text


@pytest.mark.integration
async def test_a_cursor_continues_whichever_form_the_id_came_in(worker: WorkerHarness) -> None:
    first = ok(await call(worker, TIMELINE, {"incident_id": "3", "limit": 5}))
    assert first["next_cursor"]
    again = {"incident_id": 3, "next_cursor": first["next_cursor"]}
    second = ok(await call(worker, TIMELINE, again))
    assert len(second["result"]) == 5
    assert second["result"][0]["id"] != first["result"][0]["id"]
