"""Safe writes through the real system: three NATS nodes, Valkey, two gateways, two workers,
provisioning, expiry and a sandbox of this module's own, driven by the official MCP client.

Confirmation by elicitation (accept, decline, no answer) with the client's answer sent to the
*other* gateway; plan and ``confirm_token`` for a client without elicitation, with the sandbox's
request log showing nothing was sent before the confirmation; a budget shared by both gateways;
a server pinned to one incident; every read tool scanned for the sandbox's seeded secrets; and
the provenance notes on the sandbox's timeline.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, Implementation

from tests.support.distributed import Distributed, distributed_shape, sandbox_running
from tests.support.sandbox import RunningSandbox

pytestmark = pytest.mark.e2e

CONFIRM_SECONDS = 6
"""The gateways' confirmation timeout (and confirm tokens' validity) in this system."""
COMMENT = "create_a_better_stack_incident_comment"
SECRET_MARK = "sandbox-secret-"
TIMEOUT = httpx2.Timeout(30, read=60)
CLAUDE_CODE = Implementation(name="Claude Code", version="2.1.280")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """A sandbox of this module's own: its writes change nobody else's incidents."""
    with sandbox_running(tmp_path_factory.mktemp("safe-sandbox")) as running:
        yield running


@pytest.fixture(scope="module")
def system(
    sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Distributed]:
    with distributed_shape(
        tmp_path_factory.mktemp("safe"),
        sandbox,
        STACKMCP_GATEWAY_CONFIRM_TIMEOUT=str(CONFIRM_SECONDS),
    ) as shape:
        yield shape


def server(system: Distributed, name: str, **config: Any) -> dict[str, Any]:
    body = {"name": name, "config": {"methods": ["read", "write"], "tags": ["incidents"], **config}}
    return system.create_server(**body)


def to_other_gateway(system: Distributed) -> httpx2.AsyncClient:
    """An MCP HTTP client that sends JSON-RPC *responses* (the answers to the gateway's
    elicitations) to gateway 1, and everything else where it was addressed (gateway 0)."""
    other = httpx2.URL(system.gateways[1].url)

    async def route(request: httpx2.Request) -> None:
        if request.method == "POST" and b'"method"' not in request.content:
            request.url = request.url.copy_with(host=other.host, port=other.port)

    return httpx2.AsyncClient(event_hooks={"request": [route]}, timeout=TIMEOUT)


@asynccontextmanager
async def session(
    url: str, http: httpx2.AsyncClient | None = None, **options: Any
) -> AsyncIterator[ClientSession]:
    """An initialised official-SDK session as Claude Code (``options``: e.g. an elicitation
    callback, which makes it declare elicitation)."""
    async with (
        http or create_mcp_http_client(timeout=TIMEOUT) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write, client_info=CLAUDE_CODE, **options) as mcp,
    ):
        await mcp.initialize()
        yield mcp


def text(result: CallToolResult) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


async def comments(sandbox: RunningSandbox, incident: str) -> list[str]:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(
            f"{sandbox.base_url}/api/v2/incidents/{incident}/comments",
            headers={"Authorization": f"Bearer {sandbox.token}"},
        )
    answer.raise_for_status()
    return [str(item["attributes"]["content"]) for item in answer.json()["data"]]


async def sandbox_requests(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(
            f"{sandbox.base_url}/_sandbox/requests",
            headers={"Authorization": f"Bearer {sandbox.token}"},
        )
    answer.raise_for_status()
    requests: list[dict[str, Any]] = answer.json()["requests"]
    return requests


def writes(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in requests if r.get("method") not in ("GET", "HEAD")]


def marker() -> str:
    return f"safe-e2e {secrets.token_hex(4)}"


# --------------------------------------------------------------------------- elicitation


class Person:
    """The user behind the client's confirmation prompt: answers with ``action``, or (``None``)
    never answers until released."""

    def __init__(self, action: str | None) -> None:
        self.action = action
        self.asked: list[str] = []
        self.released = asyncio.Event()

    async def __call__(self, _context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        if self.action is None:
            await self.released.wait()
            return ElicitResult(action="cancel")
        content = {"confirm": True} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


@pytest.mark.parametrize("action", ["accept", "decline", None])
async def test_elicitation_answered_through_the_other_gateway(
    system: Distributed, sandbox: RunningSandbox, action: str | None
) -> None:
    created = server(system, f"confirm {action}", confirm="writes")
    person = Person(action)
    text_id = marker()
    arguments = {"incident_id": "7", "content": text_id}
    async with session(
        system.mcp_url(created, 0), to_other_gateway(system), elicitation_callback=person
    ) as mcp:
        result = await mcp.call_tool(COMMENT, arguments)
        person.released.set()
    assert len(person.asked) == 1
    assert "incident" in person.asked[0].lower()
    ran = [c for c in await comments(sandbox, "7") if c.startswith(text_id)]
    if action == "accept":
        assert result.is_error is False, text(result)
        assert len(ran) == 1
    else:
        assert result.is_error is True
        assert ("declined" if action else "No answer") in text(result)
        assert ran == []


@pytest.mark.parametrize("action", ["accept", "decline"])
async def test_modern_client_confirms_through_input_required_on_the_other_gateway(
    system: Distributed, sandbox: RunningSandbox, action: str
) -> None:
    """2026-07-28: the first call answers ``input_required``; the SDK asks the person and
    retries with the answer, which this client sends to the other gateway."""
    created = server(system, f"modern {action}", confirm="writes")
    person = Person(action)
    other = httpx2.URL(system.gateways[1].url)
    rerouted: list[str] = []

    async def retry_elsewhere(request: httpx2.Request) -> None:
        if b'"inputResponses"' in request.content:
            request.url = request.url.copy_with(host=other.host, port=other.port)
            rerouted.append(str(request.url.port))

    http = httpx2.AsyncClient(event_hooks={"request": [retry_elsewhere]}, timeout=TIMEOUT)
    text_id = marker()
    async with (
        http,
        Client(
            streamable_http_client(system.mcp_url(created, 0), http_client=http),
            mode="2026-07-28",
            client_info=CLAUDE_CODE,
            elicitation_callback=person,
        ) as client,
    ):
        result = await client.call_tool(COMMENT, {"incident_id": "7", "content": text_id})
    assert len(person.asked) == 1
    assert rerouted == [str(other.port)]
    ran = [c for c in await comments(sandbox, "7") if c.startswith(text_id)]
    assert result.is_error is (action != "accept"), text(result)
    assert len(ran) == (1 if action == "accept" else 0)


# --------------------------------------------------------------------------- plan + token


async def test_plan_then_confirm_token_runs_once_and_nothing_before(
    system: Distributed, sandbox: RunningSandbox
) -> None:
    created = server(system, "confirm by token", confirm="writes")
    text_id = marker()
    arguments = {"incident_id": "7", "content": text_id}
    async with session(system.mcp_url(created, 0)) as mcp:
        before = len(await sandbox_requests(sandbox))
        planned = await mcp.call_tool(COMMENT, arguments)
        assert planned.is_error is False, text(planned)
        confirmation = (planned.structured_content or {})["confirmation"]
        assert confirmation["plan"]["method"] == "POST"
        assert confirmation["plan"]["path"].endswith("/incidents/7/comments")
        assert writes((await sandbox_requests(sandbox))[before:]) == []
        token = confirmation["confirm_token"]
        mismatched = await mcp.call_tool(
            COMMENT, {**arguments, "content": "something else", "confirm_token": token}
        )
        assert mismatched.is_error is True
        assert "different call" in text(mismatched)
        replanned = await mcp.call_tool(COMMENT, arguments)
        token = (replanned.structured_content or {})["confirmation"]["confirm_token"]
    async with session(system.mcp_url(created, 1)) as other:  # any replica redeems it
        done = await other.call_tool(COMMENT, {**arguments, "confirm_token": token})
        assert done.is_error is False, text(done)
        reused = await other.call_tool(COMMENT, {**arguments, "confirm_token": token})
        assert reused.is_error is True
        assert "already used" in text(reused)
    assert len([c for c in await comments(sandbox, "7") if c.startswith(text_id)]) == 1


async def test_an_expired_confirm_token_is_refused(
    system: Distributed, sandbox: RunningSandbox
) -> None:
    created = server(system, "confirm too late", confirm="writes")
    arguments = {"incident_id": "7", "content": marker()}
    async with session(system.mcp_url(created, 0)) as mcp:
        planned = await mcp.call_tool(COMMENT, arguments)
        token = (planned.structured_content or {})["confirmation"]["confirm_token"]
        valid_until = time.monotonic() + CONFIRM_SECONDS
        await asyncio.sleep(max(0.0, valid_until - time.monotonic()) + 0.5)  # let it lapse
        late = await mcp.call_tool(COMMENT, {**arguments, "confirm_token": token})
    assert late.is_error is True
    assert "expired" in text(late)
    assert [c for c in await comments(sandbox, "7") if c == arguments["content"]] == []


# --------------------------------------------------------------------------- budgets


async def test_a_budget_shared_by_two_gateways_admits_exactly_its_count(
    system: Distributed, sandbox: RunningSandbox
) -> None:
    created = server(system, "budgeted", budgets={COMMENT: "3/h"})
    text_id = marker()
    async with (
        session(system.mcp_url(created, 0)) as first,
        session(system.mcp_url(created, 1)) as second,
    ):
        results = await asyncio.gather(
            *(
                (first, second)[i % 2].call_tool(
                    COMMENT, {"incident_id": "7", "content": f"{text_id} #{i}"}
                )
                for i in range(8)
            )
        )
    assert sum(not r.is_error for r in results) == 3
    refusal = next(r for r in results if r.is_error)
    assert "budget" in text(refusal)
    assert (refusal.meta or {}).get("ratelimit-remaining") == 0
    assert len([c for c in await comments(sandbox, "7") if c.startswith(text_id)]) == 3


# --------------------------------------------------------------------------- pins


async def test_a_server_pinned_to_incident_7_cannot_touch_incident_3(
    system: Distributed, sandbox: RunningSandbox
) -> None:
    created = server(system, "incident 7 only", pin={"incident_id": ["7"]})
    async with session(system.mcp_url(created, 0)) as mcp:
        listed = await mcp.list_tools()
        names = {t.name for t in listed.tools}
        assert "create_a_better_stack_incident" not in names
        withheld = (listed.meta or {})["stackmcp/withheld"]
        assert "incident_id" in withheld["create_a_better_stack_incident"]
        before = len(await sandbox_requests(sandbox))
        other = await mcp.call_tool("get_single_better_stack_incident_by_id", {"incident_id": "3"})
        assert other.is_error is True
        assert "incident_id 7" in text(other)
        acted = await mcp.call_tool("better_stack_incidents_acknowledge", {"incident_id": "3"})
        assert acted.is_error is True
        incidents = await mcp.call_tool("list_all_better_stack_incidents", {"limit": 50})
    assert incidents.is_error is False, text(incidents)
    ids = {item["id"] for item in (incidents.structured_content or {})["result"]}
    assert ids == {"7"}
    requests = await sandbox_requests(sandbox)
    assert not any("/incidents/3" in str(r.get("path")) for r in requests[before:])


# --------------------------------------------------------------------------- secrets


async def read_everything(mcp: ClientSession) -> list[str]:
    """Every read tool's answer: each list tool, then each get tool for up to three of the
    ids its list gave."""
    tools = (await mcp.list_tools()).tools
    answers: list[str] = []
    ids: dict[str, list[str]] = {}
    for tool in tools:
        required = tool.input_schema.get("required", [])
        if tool.name.startswith("list_all_") and not required:
            result = await mcp.call_tool(tool.name, {"limit": 50})
            answers.append(text(result))
            items = (result.structured_content or {}).get("result") or []
            ids[tool.name] = [str(i["id"]) for i in items if isinstance(i, dict) and "id" in i]
    for tool in tools:
        found = re.fullmatch(r"get_single_better_stack_(\w+)_by_id", tool.name)
        required = tool.input_schema.get("required", [])
        if found is None or len(required) != 1:
            continue
        stem = found.group(1)
        plural = next(
            (
                n
                for n in ids
                if n.removeprefix("list_all_better_stack_")
                in (stem + "s", stem + "es", stem[:-1] + "ies")
            ),
            None,
        )
        for item_id in ids.get(plural or "", [])[:3]:
            answers.append(text(await mcp.call_tool(tool.name, {required[0]: item_id})))
    return answers


async def test_no_read_tool_shows_a_seeded_secret_unless_the_server_reveals_them(
    system: Distributed,
) -> None:
    everything = {"methods": ["read"], "tags": []}
    hidden = system.create_server(name="reads, secrets hidden", config=everything)
    shown = system.create_server(
        name="reads, secrets shown", config={**everything, "reveal_secrets": True}
    )
    async with session(system.mcp_url(hidden, 0)) as mcp:
        answers = await read_everything(mcp)
    assert len(answers) > 40
    leaked = [a[:200] for a in answers if SECRET_MARK in a]
    assert leaked == []
    assert any("[redacted]" in a for a in answers)
    async with session(system.mcp_url(shown, 1)) as mcp:
        revealed = await read_everything(mcp)
    assert any(SECRET_MARK in a for a in revealed)


# --------------------------------------------------------------------------- provenance


async def test_writes_leave_a_note_naming_the_client_and_the_server(
    system: Distributed, sandbox: RunningSandbox
) -> None:
    created = server(system, "SRE triage")
    quiet = server(system, "no notes", provenance=False)
    text_id = marker()
    async with session(system.mcp_url(created, 0)) as mcp:
        acked = await mcp.call_tool("better_stack_incidents_acknowledge", {"incident_id": "4"})
        assert acked.is_error is False, text(acked)
        commented = await mcp.call_tool(COMMENT, {"incident_id": "4", "content": text_id})
        assert commented.is_error is False, text(commented)
    notes = await comments(sandbox, "4")
    footed = [c for c in notes if c.startswith(text_id)]
    assert len(footed) == 1
    assert "Claude Code" in footed[0]
    assert "SRE triage" in footed[0]
    assert any("Claude Code" in c and "SRE triage" in c and c != footed[0] for c in notes)
    plain = marker()
    async with session(system.mcp_url(quiet, 1)) as mcp:
        await mcp.call_tool(COMMENT, {"incident_id": "4", "content": plain})
    assert [c for c in await comments(sandbox, "4") if c.startswith(plain)] == [plain]
