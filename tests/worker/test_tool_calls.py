"""Tool calls over real NATS, through the worker's executor, against the real sandbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from typing import Any

import msgspec
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.events import AccountDeleted
from stackmcp.contracts.keys import RedisKeys
from stackmcp.embedded import free_port
from stackmcp.runtime.errors import NotFound
from tests.support.sandbox import RunningSandbox
from tests.support.worker import WorkerHarness, running_worker

pytestmark = pytest.mark.integration

CATALOG = default_catalog()
VERSION_SEGMENT = re.compile(r"^/api/v\d+")


def requests_seen(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    """The sandbox's log of API requests since the last reset."""
    log: list[dict[str, Any]] = sandbox.admin("GET", "requests").json()["requests"]
    return log


def ok(result: Any) -> Any:
    """The structured content of a successful result (fails the test on a tool error)."""
    assert not result.is_error, result.text
    return result.structured_value()


async def test_catalog_is_served_with_its_version(worker: WorkerHarness) -> None:
    """catalog.get returns every tool; a caller holding the version gets ``unchanged``."""
    full = await worker.catalog()
    assert full.version == CATALOG.version
    assert [t.name for t in full.tools] == [t.name for t in CATALOG.tools]
    same = await worker.catalog(known_version=full.version)
    assert (same.unchanged, same.tools, same.version) == (True, (), full.version)


def _list_path_for(path: str, placeholder: str) -> str:
    prefix = path[: path.index("{" + placeholder + "}")].rstrip("/")
    return VERSION_SEGMENT.sub("", prefix)


async def _resolve_ids(worker: WorkerHarness, tool: str, known: dict[str, str]) -> dict[str, str]:
    """Fill a read tool's path ids by listing their parents first (generic over the catalogue)."""
    op = CATALOG.operations[tool]
    args: dict[str, str] = {}
    for param in (p for p in op.params if p.location == "path"):
        if param.name in known:
            args[param.name] = known[param.name]
            continue
        wanted = _list_path_for(op.path, param.name)
        lister = next(
            name
            for name, candidate in CATALOG.operations.items()
            if candidate.method == "list" and VERSION_SEGMENT.sub("", candidate.path) == wanted
        )
        listed = ok(await worker.call(lister, dict(args)))["result"]
        assert listed, f"{lister} returned nothing to take a {param.name} from"
        args[param.name] = known[param.name] = str(listed[0]["id"])
    return args


async def test_every_read_tool_returns_data(worker: WorkerHarness) -> None:
    """Each read tool, with ids looked up through the list tools, answers with content."""
    known = {"schedule_id": "2"}  # the seeded "Core Infrastructure" calendar has a rotation
    empty: list[str] = []
    for tool in (t for t in CATALOG.tools if t.method_class == "read"):
        args: dict[str, Any] = await _resolve_ids(worker, tool.name, known)
        if tool.name == "better_stack_team_members_find_by_email":
            args["email"] = "alice@example.com"
        result = await worker.call(tool.name, args)
        assert not result.is_error, f"{tool.name}({args}): {result.text}"
        structured = result.structured_value()
        if not structured["result"]:
            empty.append(tool.name)
    assert empty == []


async def test_incident_tools_change_sandbox_state(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """The seven named tools do what their names say, and a repeated acknowledge is a 409."""
    listed = ok(await worker.call("list_all_better_stack_incidents", {"resolved": False}))
    open_ids = {item["id"] for item in listed["result"]}
    assert "7" in open_ids
    assert {item["status"] for item in listed["result"]} <= {"Started", "Acknowledged"}

    acknowledged = ok(await worker.call("better_stack_incidents_acknowledge", {"incident_id": "7"}))
    assert acknowledged["result"]["status"] == "Acknowledged"
    again = await worker.call("better_stack_incidents_acknowledge", {"incident_id": "7"})
    assert again.is_error
    assert again.upstream_status == 409
    assert again.error is not None
    assert again.error.code == "conflict"
    assert "already acknowledged" in again.text

    escalated = await worker.call(
        "better_stack_incidents_escalate",
        {"incident_id": "7", "escalation_type": "User", "user_email": "bob@example.com"},
    )
    escalation = ok(escalated) if not escalated.is_error else None
    assert escalation is not None, escalated.text

    comment = "Rolled back deploy 2026-11-25.3; watching error rates."
    created = ok(
        await worker.call(
            "create_a_better_stack_incident_comment", {"incident_id": "7", "content": comment}
        )
    )
    assert created["result"]["content"] == comment
    comments = ok(
        await worker.call("list_all_better_stack_incident_comments", {"incident_id": "7"})
    )
    assert comment in [c["content"] for c in comments["result"]]

    resolved = ok(await worker.call("better_stack_incidents_resolve", {"incident_id": "7"}))
    assert resolved["result"]["status"] == "Resolved"
    still_open = ok(await worker.call("list_all_better_stack_incidents", {"resolved": False}))
    assert "7" not in {item["id"] for item in still_open["result"]}

    timeline = ok(
        await worker.call(
            "list_all_better_stack_incident_timeline", {"incident_id": "7", "limit": 100}
        )
    )
    titles = " | ".join(str(item["data"].get("title")) for item in timeline["result"])
    assert "acknowledged" in titles
    assert "resolved" in titles

    schedules = ok(await worker.call("list_all_better_stack_on_call_schedules"))
    assert "Core Infrastructure" in {s.get("name") for s in schedules["result"]}
    methods = [r["method"] for r in requests_seen(sandbox_api)]
    assert methods.count("POST") == 5  # 2 acknowledges, escalate, comment, resolve


async def test_timeline_walk_returns_every_item_once(worker: WorkerHarness) -> None:
    """Paging the >100-item timeline by 10 yields each item once and ends with a null cursor."""
    whole = ok(
        await worker.call(
            "list_all_better_stack_incident_timeline", {"incident_id": "3", "limit": 100}
        )
    )
    assert whole["next_cursor"] is not None
    seen: list[Any] = []
    arguments: dict[str, Any] = {"incident_id": "3", "limit": 10}
    pages = 0
    while True:
        page = ok(await worker.call("list_all_better_stack_incident_timeline", arguments))
        assert len(page["result"]) <= 10
        seen.extend(page["result"])
        pages += 1
        if page["next_cursor"] is None:
            break
        arguments = {"next_cursor": page["next_cursor"], "limit": 10}
    assert len(seen) > 100
    assert pages == -(-len(seen) // 10)
    keys = [(item["id"], item.get("item_type")) for item in seen]
    assert len(set(keys)) == len(keys)


async def test_upstream_paged_list_walks_by_page(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """Incidents page upstream: the cursor asks for the next page with the same page size."""
    first = ok(await worker.call("list_all_better_stack_incidents", {"limit": 1}))
    assert len(first["result"]) == 1
    assert first["next_cursor"]
    second = ok(
        await worker.call("list_all_better_stack_incidents", {"next_cursor": first["next_cursor"]})
    )
    assert len(second["result"]) == 1
    assert second["result"][0]["id"] != first["result"][0]["id"]
    seen = requests_seen(sandbox_api)
    queries = [r["query"] for r in seen if r["path"] == "/api/v3/incidents"]
    assert queries == ["page=1&per_page=1", "page=2&per_page=1"]
    # severities come from the policies and severities, read once a minute per account
    assert sorted(r["path"] for r in seen if r["path"] != "/api/v3/incidents") == [
        "/api/v2/urgencies",
        "/api/v3/policies",
    ]


async def test_cursors_are_refused_when_tampered_foreign_or_expired(
    nats_url: str, redis_url: str, sandbox_api: RunningSandbox
) -> None:
    """Altered, other-server, other-tool and expired cursors fail before any request."""
    async with running_worker(
        nats_url, redis_url, base_url=sandbox_api.base_url, token=sandbox_api.token, cursor_ttl=1
    ) as worker:
        timeline = "list_all_better_stack_incident_timeline"
        page = ok(await worker.call(timeline, {"incident_id": "3", "limit": 5}))
        cursor = page["next_cursor"]
        before = len(requests_seen(sandbox_api))
        head, _, mac = cursor.partition(".")
        tampered = head[:-2] + ("AA" if head[-2:] != "AA" else "BB") + "." + mac
        attempts = {
            "tampered": (timeline, {"next_cursor": tampered}, {}),
            "other server": (timeline, {"next_cursor": cursor}, {"server_id": "srv_other"}),
            "other tool": (
                "list_all_better_stack_incident_comments",
                {"incident_id": "3", "next_cursor": cursor},
                {},
            ),
            "other filters": (timeline, {"incident_id": "7", "next_cursor": cursor}, {}),
        }
        for label, (tool, arguments, extra) in attempts.items():
            result = await worker.call(tool, arguments, **extra)
            assert result.is_error, label
            assert result.error is not None
            assert result.error.code == "invalid_argument", label
        assert len(requests_seen(sandbox_api)) == before
        await asyncio.sleep(1.1)
        expired = await worker.call(timeline, {"next_cursor": cursor})
        assert expired.is_error
        assert "expired" in expired.text
        assert len(requests_seen(sandbox_api)) == before


@pytest.mark.parametrize(
    "bad_id", ["1/../../monitors", "1?x=", "7#frag", "../7", "%2e%2e", " 7", "default"]
)
async def test_ids_that_could_change_the_path_are_refused_before_sending(
    worker: WorkerHarness, sandbox_api: RunningSandbox, bad_id: str
) -> None:
    """Path ids must be digits; anything else is a field error and nothing is sent."""
    result = await worker.call("better_stack_incidents_acknowledge", {"incident_id": bad_id})
    assert result.is_error
    assert result.error is not None
    assert result.error.fields is not None
    assert "incident_id" in result.error.fields
    assert requests_seen(sandbox_api) == []


async def test_default_is_accepted_where_documented(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """``default`` is a valid on-call schedule id and reaches the upstream path as is."""
    schedule = ok(
        await worker.call(
            "get_single_better_stack_on_call_schedule_by_id", {"schedule_id": "default"}
        )
    )
    assert schedule["result"]["id"]
    assert requests_seen(sandbox_api)[-1]["path"] == "/api/v2/on-calls/default"


async def test_argument_errors_are_field_level_tool_errors(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """Schema violations name each field and what to fix; nothing reaches the upstream."""
    result = await worker.call(
        "create_a_better_stack_incident_comment", {"incident_id": "INC-7", "colour": "red"}
    )
    assert result.is_error
    assert result.error is not None
    assert result.error.fields is not None
    assert set(result.error.fields) == {"incident_id", "content", "colour"}
    assert "content: is required" in result.text
    assert requests_seen(sandbox_api) == []


async def test_rate_limit_is_one_request_with_normalised_signals(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """A 429 comes back as a tool error with ratelimit fields after exactly one request."""
    knobs = {"rate_limit": 0.01, "rate_limit_burst": 1, "rate_limit_headers": True}
    assert sandbox_api.admin("PATCH", "knobs", knobs).status_code == 200
    first = await worker.call("list_all_better_stack_monitors")
    assert not first.is_error
    assert first.rate_limit is not None
    assert first.rate_limit.remaining == 0
    limited = await worker.call("list_all_better_stack_monitors")
    assert limited.is_error
    assert limited.upstream_status == 429
    assert limited.error is not None
    assert limited.error.code == "rate_limited"
    assert limited.rate_limit is not None
    assert limited.rate_limit.limit == 1
    assert limited.rate_limit.remaining == 0
    assert limited.rate_limit.retry_after is not None
    assert limited.rate_limit.retry_after >= 1
    assert f"retry after {limited.rate_limit.retry_after} seconds" in limited.text
    assert len(requests_seen(sandbox_api)) == 2


async def test_unknown_and_ungranted_tools_are_refused_alike(worker: WorkerHarness) -> None:
    """A tool outside the grant's filter is answered exactly like a tool that does not exist."""
    with pytest.raises(NotFound) as unknown:
        await worker.call("drop_all_tables")
    with pytest.raises(NotFound) as ungranted:
        await worker.call("better_stack_incidents_resolve", {"incident_id": "7"}, methods=("read",))
    with pytest.raises(NotFound):
        await worker.call("list_all_better_stack_monitors", tags=("incidents",))
    assert str(unknown.value).replace("drop_all_tables", "X") == str(ungranted.value).replace(
        "better_stack_incidents_resolve", "X"
    )


async def test_removed_account_is_a_clear_tool_error(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """An account id with no record gives a tool error naming the fix, not a crash."""
    result = await worker.call("list_all_better_stack_monitors", account_id="acc_gone")
    assert result.is_error
    assert result.error is not None
    assert result.error.code == "not_found"
    assert "reconnect" in result.text
    assert requests_seen(sandbox_api) == []


async def test_upstream_down_is_a_fast_clear_error(
    nats_url: str, redis_url: str, sandbox_api: RunningSandbox
) -> None:
    """A refused connection and a stalled upstream both come back as retryable tool errors."""
    closed = f"http://127.0.0.1:{free_port()}"
    async with running_worker(nats_url, redis_url, base_url=closed, token="t") as worker:
        started = time.monotonic()
        down = await worker.call("list_all_better_stack_incidents", timeout=5)
        refused_after = time.monotonic() - started
    assert down.is_error
    assert down.error is not None
    assert (down.error.code, down.error.retryable) == ("unavailable", True)
    assert "could not be reached" in down.text
    assert refused_after < 5

    assert sandbox_api.admin("PATCH", "knobs", {"latency_ms": 3000}).status_code == 200
    async with running_worker(
        nats_url, redis_url, base_url=sandbox_api.base_url, token=sandbox_api.token
    ) as worker:
        started = time.monotonic()
        stalled = await worker.call("list_all_better_stack_incidents", timeout=1.5)
        stalled_after = time.monotonic() - started
    assert stalled.error is not None
    assert stalled.error.code == "deadline_exceeded"
    assert stalled_after < 3  # answered within the caller's deadline, not the 3 s stall


async def test_upstream_span_continues_the_callers_trace(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """The NATS request's trace reaches the upstream: same trace id in span and traceparent."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with trace.get_tracer("test").start_as_current_span("caller") as caller:
        result = await worker.call("get_single_better_stack_incident_by_id", {"incident_id": "7"})
    assert not result.is_error
    trace_id = caller.get_span_context().trace_id
    spans = exporter.get_finished_spans()
    upstream = [s for s in spans if s.name == "GET /api/v3/incidents/{incident_id}"]
    assert len(upstream) == 1
    assert upstream[0].context is not None
    assert upstream[0].context.trace_id == trace_id
    assert upstream[0].attributes is not None
    assert upstream[0].attributes["http.response.status_code"] == 200
    served = [s for s in spans if s.name.startswith("process ") and s.name.endswith("tool.call")]
    assert served
    assert served[0].attributes is not None
    assert served[0].attributes["mcp.tool.name"] == "get_single_better_stack_incident_by_id"
    sent = requests_seen(sandbox_api)[-1]["traceparent"]
    assert sent.split("-")[1] == format(trace_id, "032x")


async def test_account_deleted_event_drops_the_cached_credentials(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """With a 60 s cache, removal still takes effect at once when the event is published."""
    assert not (await worker.call("list_all_better_stack_monitors")).is_error
    await worker.redis.delete(RedisKeys().account(worker.account_id))
    cached = await worker.call("list_all_better_stack_monitors")
    assert not cached.is_error  # still cached: nobody said anything yet
    event = AccountDeleted(
        id="evt_1", occurred_at=dt.datetime.now(dt.UTC), account_id=worker.account_id
    )
    await worker.nc.publish(worker.subjects.account_event("deleted"), msgspec.json.encode(event))
    await worker.nc.flush()
    for _ in range(50):
        result = await worker.call("list_all_better_stack_monitors")
        if result.is_error:
            break
        await asyncio.sleep(0.02)
    assert result.error is not None
    assert result.error.code == "not_found"
