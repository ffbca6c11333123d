"""The worker re-checks a grant's exclusions and pins on every call, and filters pinned lists."""

from __future__ import annotations

import pytest

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.grants import Pin
from stackmcp.runtime.errors import NotFound
from tests.support.sandbox import RunningSandbox
from tests.support.worker import WorkerHarness
from tests.worker.grant_calls import call, ok, requests_seen

pytestmark = pytest.mark.integration

INCIDENT_PIN = (Pin(param="incident_id", values=("7",)),)
LIST_INCIDENTS = "list_all_better_stack_incidents"
CATALOG_ITEM_IDS = {t.name: t.item_id for t in default_catalog().tools}


async def test_excluded_tools_and_tags_are_refused_like_unknown_tools(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """A tool named in exclude_tools, or carrying an excluded tag, is a NotFound; others run."""
    resolve = ("better_stack_incidents_resolve", {"incident_id": "7"})
    with pytest.raises(NotFound, match="unknown tool"):
        await call(worker, *resolve, exclude_tools=("better_stack_incidents_resolve",))
    with pytest.raises(NotFound, match="unknown tool"):
        await call(worker, *resolve, exclude_tags=("destructive",))
    with pytest.raises(NotFound, match="unknown tool"):
        await call(
            worker, "create_a_better_stack_incident", {"name": "x"}, exclude_tags=("notifies",)
        )
    assert requests_seen(sandbox_api) == []
    allowed = await call(
        worker,
        "better_stack_incidents_acknowledge",
        {"incident_id": "7"},
        exclude_tags=("destructive",),
    )
    assert ok(allowed)["result"]["status"] == "Acknowledged"


async def test_writes_that_could_act_outside_the_pins_are_refused(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """A write without the pinned parameter is withheld (NotFound), however it is called."""
    with pytest.raises(NotFound, match="unknown tool"):
        await call(worker, "create_a_better_stack_incident", {"name": "x"}, pin=INCIDENT_PIN)
    with pytest.raises(NotFound, match="unknown tool"):
        await call(
            worker, "delete_a_better_stack_monitor_by_id", {"monitor_id": "1"}, pin=INCIDENT_PIN
        )
    assert requests_seen(sandbox_api) == []


async def test_other_ids_are_refused_before_any_request(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """Arguments outside the pins are a tool error naming the pinned value; nothing is sent."""
    other = await call(
        worker, "better_stack_incidents_resolve", {"incident_id": "6"}, pin=INCIDENT_PIN
    )
    assert other.is_error
    assert other.error is not None
    assert other.error.code == "invalid_argument"
    assert "incident_id 7" in other.text
    assert "not 6" in other.text
    missing = await call(worker, "list_all_better_stack_incident_comments", {}, pin=INCIDENT_PIN)
    assert missing.is_error
    assert "incident_id is required" in missing.text
    as_number = await call(
        worker, "get_single_better_stack_incident_by_id", {"incident_id": 6}, pin=INCIDENT_PIN
    )
    assert as_number.is_error
    assert "not 6" in as_number.text
    planned = await call(
        worker,
        "better_stack_incidents_resolve",
        {"incident_id": "6"},
        pin=INCIDENT_PIN,
        plan_only=True,
    )
    assert planned.is_error
    assert planned.plan is None
    assert requests_seen(sandbox_api) == []

    pinned = await call(
        worker, "better_stack_incidents_resolve", {"incident_id": "7"}, pin=INCIDENT_PIN
    )
    assert ok(pinned)["result"]["status"] == "Resolved"


async def test_reads_without_the_pinned_parameter_still_run(worker: WorkerHarness) -> None:
    """A read that cannot name the pinned parameter is not withheld (lists of other resources)."""
    monitors = ok(await call(worker, "list_all_better_stack_monitors", {}, pin=INCIDENT_PIN))
    assert monitors["result"]


async def test_lists_of_the_pinned_resource_show_only_the_pinned_items(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """The incident list of a server pinned to incidents 7 and 3 shows just those, across
    pages (a page may come back shorter), with the cursor still walking to the end."""
    assert CATALOG_ITEM_IDS[LIST_INCIDENTS] == "incident_id"
    pins = (Pin(param="incident_id", values=("7", "3")),)
    unpinned = ok(await worker.call(LIST_INCIDENTS, {"limit": 50}))
    assert len(unpinned["result"]) > 2
    seen: list[str] = []
    pages = 0
    arguments: dict[str, object] = {"limit": 2}
    while True:
        page = ok(await call(worker, LIST_INCIDENTS, arguments, pin=pins))
        pages += 1
        assert len(page["result"]) <= 2
        seen += [item["id"] for item in page["result"]]
        if page["next_cursor"] is None:
            break
        arguments = {"next_cursor": page["next_cursor"]}
    assert sorted(seen) == ["3", "7"]
    listed = [r for r in requests_seen(sandbox_api) if r["path"] == "/api/v3/incidents"]
    assert pages == len(listed) - 1 > 1


async def test_pinned_lists_compare_ids_as_text(worker: WorkerHarness) -> None:
    """A monitor pin filters the monitor list; other lists are not filtered by it."""
    pins = (Pin(param="monitor_id", values=("2",)),)
    monitors = ok(await call(worker, "list_all_better_stack_monitors", {}, pin=pins))
    assert [m["id"] for m in monitors["result"]] == ["2"]
    assert [m["pronounceable_name"] for m in monitors["result"]] == ["Payments API"]
    heartbeats = ok(await call(worker, "list_all_better_stack_heartbeats", {}, pin=pins))
    assert len(heartbeats["result"]) > 1
