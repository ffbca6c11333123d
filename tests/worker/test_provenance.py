"""Provenance on the Better Stack timeline: comment footers and notes after incident actions."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import httpx
import pytest

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.betterstack_worker.cursors import CursorSigner
from stackmcp.betterstack_worker.execution.executor import Executor
from stackmcp.betterstack_worker.upstream import UpstreamClient, UpstreamConfig
from stackmcp.contracts.tools import Provenance, ToolCallRequest
from tests.support.sandbox import RunningSandbox
from tests.support.worker import ALL_METHODS, WorkerHarness
from tests.worker.grant_calls import call, ok, writes_seen

pytestmark = pytest.mark.integration

WHO = Provenance(server_name="SRE triage", client_name="Claude Code")


async def comments_of(worker: WorkerHarness, incident_id: str) -> list[str]:
    """The contents of the incident's comments, oldest first."""
    listed = ok(
        await worker.call("list_all_better_stack_incident_comments", {"incident_id": incident_id})
    )
    return [c["content"] for c in listed["result"]]


async def timeline_comments(worker: WorkerHarness, incident_id: str) -> list[Any]:
    """The texts of the incident's ``comment`` timeline items."""
    timeline = ok(
        await worker.call(
            "list_all_better_stack_incident_timeline", {"incident_id": incident_id, "limit": 100}
        )
    )
    return [
        item["data"]["content"]["text"]
        for item in timeline["result"]
        if item.get("item_type") == "comment"
    ]


async def test_comment_carries_the_footer(worker: WorkerHarness) -> None:
    """A comment created through a server with provenance ends with client and server names."""
    created = ok(
        await call(
            worker,
            "create_a_better_stack_incident_comment",
            {"incident_id": "7", "content": "Rolled back deploy 3."},
            provenance=WHO,
        )
    )
    expected = 'Rolled back deploy 3.\n\n— via Claude Code · stackmcp "SRE triage"'
    assert created["result"]["content"] == expected
    assert expected in await comments_of(worker, "7")
    assert expected in await timeline_comments(worker, "7")


async def test_footer_without_a_client_names_the_server(worker: WorkerHarness) -> None:
    """With no client name known, the footer names just the server."""
    created = ok(
        await call(
            worker,
            "create_a_better_stack_incident_comment",
            {"incident_id": "7", "content": "Looking."},
            provenance=Provenance(server_name="SRE triage"),
        )
    )
    assert created["result"]["content"] == 'Looking.\n\n— via stackmcp "SRE triage"'


async def test_no_provenance_no_footer_and_no_note(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """Without provenance the comment is sent as given and an action posts no note."""
    created = ok(
        await call(
            worker,
            "create_a_better_stack_incident_comment",
            {"incident_id": "7", "content": "Plain."},
        )
    )
    assert created["result"]["content"] == "Plain."
    ok(await call(worker, "better_stack_incidents_resolve", {"incident_id": "7"}))
    assert writes_seen(sandbox_api) == [
        "POST /api/v2/incidents/7/comments",
        "POST /api/v3/incidents/7/resolve",
    ]


async def test_incident_actions_leave_a_timeline_note(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """Acknowledge, escalate and resolve each add one comment naming client and server."""
    ok(
        await call(
            worker, "better_stack_incidents_acknowledge", {"incident_id": "7"}, provenance=WHO
        )
    )
    escalation = {"incident_id": "7", "escalation_type": "Organization"}
    ok(await call(worker, "better_stack_incidents_escalate", escalation, provenance=WHO))
    resolved = ok(
        await call(worker, "better_stack_incidents_resolve", {"incident_id": "7"}, provenance=WHO)
    )
    assert resolved["result"]["status"] == "Resolved"
    notes = [
        f'{verb} via Claude Code through stackmcp server "SRE triage".'
        for verb in ("Acknowledged", "Escalated", "Resolved")
    ]
    assert (await comments_of(worker, "7"))[-3:] == notes
    assert (await timeline_comments(worker, "7"))[-3:] == notes
    assert writes_seen(sandbox_api) == [
        "POST /api/v3/incidents/7/acknowledge",
        "POST /api/v2/incidents/7/comments",
        "POST /api/v3/incidents/7/escalate",
        "POST /api/v2/incidents/7/comments",
        "POST /api/v3/incidents/7/resolve",
        "POST /api/v2/incidents/7/comments",
    ]


async def test_failed_action_leaves_no_note(
    worker: WorkerHarness, sandbox_api: RunningSandbox
) -> None:
    """A conflicting action is an error and posts nothing further."""
    ok(await call(worker, "better_stack_incidents_resolve", {"incident_id": "7"}))
    again = await call(
        worker, "better_stack_incidents_resolve", {"incident_id": "7"}, provenance=WHO
    )
    assert again.is_error
    assert again.upstream_status == 409
    assert writes_seen(sandbox_api) == [
        "POST /api/v3/incidents/7/resolve",
        "POST /api/v3/incidents/7/resolve",
    ]


class _CommentsDown(httpx.AsyncBaseTransport):
    """Forwards every request to the sandbox except new comments, which fail with a 503."""

    def __init__(self) -> None:
        self._real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/comments"):
            return httpx.Response(503, json={"errors": "Service unavailable"})
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        await self._real.aclose()


async def test_a_failing_note_keeps_the_action_successful(
    worker: WorkerHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """When the note cannot be posted the action still succeeds, and the failure is logged."""
    upstream = UpstreamClient(UpstreamConfig(client="httpx", timeout=5), transport=_CommentsDown())
    executor = Executor(
        default_catalog(), worker.accounts, upstream, CursorSigner(secrets.token_bytes(32), ttl=60)
    )
    request = ToolCallRequest(
        server_id=worker.server_id,
        account_id=worker.account_id,
        tool="better_stack_incidents_acknowledge",
        arguments={"incident_id": "7"},
        methods=ALL_METHODS,
        provenance=WHO,
    )
    try:
        with caplog.at_level(logging.WARNING):
            acknowledged = ok(await executor.call(request))
    finally:
        await upstream.aclose()
    assert acknowledged["result"]["status"] == "Acknowledged"
    assert "provenance note" in caplog.text
    assert not any("Acknowledged via" in c for c in await comments_of(worker, "7"))
