"""The worker's metrics, read from the Prometheus text the health listener serves.

The process has one meter provider, so each check compares a series before and after.
"""

from __future__ import annotations

import time

import pytest

from stackmcp.contracts.tools import ToolCallRequest
from stackmcp.runtime.metrics import prometheus_text
from stackmcp.runtime.natsx import NoReply
from tests.support.metrics import installed_metrics, sample
from tests.support.sandbox import RunningSandbox
from tests.support.worker import WorkerHarness

pytestmark = pytest.mark.integration

MONITORS = {"http_request_method": "GET", "http_route": "/api/v2/monitors"}
COUNT = "stackmcp_upstream_request_duration_seconds_count"


async def test_an_upstream_429_is_counted_under_its_route_template(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    installed_metrics()
    ok = {**MONITORS, "http_response_status_code": "200"}
    limited = {**MONITORS, "http_response_status_code": "429"}
    before = prometheus_text()
    knobs = {"rate_limit": 0.01, "rate_limit_burst": 1}
    assert sandbox_api.admin("PATCH", "knobs", knobs).status_code == 200
    assert not (await worker.call("list_all_better_stack_monitors")).is_error
    assert (await worker.call("list_all_better_stack_monitors")).upstream_status == 429
    after = prometheus_text()
    assert sample(after, COUNT, ok) == sample(before, COUNT, ok) + 1
    assert sample(after, COUNT, limited) == sample(before, COUNT, limited) + 1
    assert sample(after, "stackmcp_worker_calls_in_flight") == 0


async def test_a_call_past_its_deadline_is_dropped_and_counted(worker: WorkerHarness) -> None:
    installed_metrics()
    labels = {"stackmcp_reason": "deadline"}
    before = sample(prometheus_text(), "stackmcp_worker_dropped_total", labels)
    late = ToolCallRequest(
        server_id=worker.server_id,
        account_id=worker.account_id,
        tool="list_all_better_stack_monitors",
        arguments={},
        methods=("read",),
        deadline=time.time() - 1,
    )
    with pytest.raises(NoReply):
        await worker.executor.call(late)
    assert sample(prometheus_text(), "stackmcp_worker_dropped_total", labels) == before + 1
