"""The console's audit-trail pages against a real provisioning process, NATS and Valkey: a
server's page with its activity (filters, pages), an ended server's page, an account's activity,
the admin-change history, escaping, and a JetStream outage.

Records are published straight onto the audit stream, as gateways and provisioning do, so each
test knows exactly what the pages must list.
"""

from __future__ import annotations

import asyncio
import html
import re
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats
import pytest
import redis

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.audit import AdminChange, AuditEntry, ToolCallCompleted
from stackmcp.contracts.filters import filter_tools
from stackmcp.contracts.tokens import hash_token
from stackmcp.contracts.usage import LAST_USED_FIELD, calls_field, errors_field, hour_of
from stackmcp.embedded import NatsServer
from stackmcp.runtime.config import AuditConfig
from stackmcp.runtime.events import ensure_audit_stream
from tests.console.test_pages import sign_in
from tests.support.provisioning import Provisioning, start_provisioning
from tests.support.streams import terminate

pytestmark = pytest.mark.e2e

ROW = re.compile(r'<tr data-record-id="([^"]+)" data-kind="(call|admin)">')
PAGE_SIZE = 50


@pytest.fixture
def console(provisioning: Provisioning) -> Iterator[httpx.Client]:
    """A signed-in console client."""
    with sign_in(provisioning.url, provisioning.admin_token) as client:
        yield client


def publish(provisioning: Provisioning, records: Sequence[AuditEntry]) -> None:
    """Publish ``records`` in order onto the audit stream (as gateways and provisioning do)."""
    stack = provisioning.stack

    async def run() -> None:
        nc = await nats.connect(stack.nats_url)
        try:
            js = nc.jetstream()
            await ensure_audit_stream(js, stack.subjects, AuditConfig(max_bytes=16 * 1024 * 1024))
            for record in records:
                if isinstance(record, ToolCallCompleted):
                    subject = stack.subjects.audit_call(record.account_id, record.server_id)
                else:
                    subject = stack.subjects.audit_admin(record.account_id, record.server_id)
                await js.publish(subject, msgspec.json.encode(record), headers=None)
        finally:
            await nc.close()

    asyncio.run(run())


def call(account_id: str, server_id: str, at: datetime, **fields: Any) -> ToolCallCompleted:
    """A tool-call record (``ok`` through ``list_monitors`` by claude-ai unless told)."""
    values: dict[str, Any] = {
        "tool": "list_monitors",
        "outcome": "ok",
        "client_name": "claude-ai",
        "client_version": "1.0",
        "arguments": {"page": 1},
        "duration_ms": 12.0,
        **fields,
    }
    return ToolCallCompleted(
        id=uuid.uuid4().hex, time=at, account_id=account_id, server_id=server_id, **values
    )


def change(operator: str, action: str, at: datetime, **fields: Any) -> AdminChange:
    """An admin-change record."""
    return AdminChange(
        id=uuid.uuid4().hex,
        time=at,
        operator=operator,
        action=action,  # type: ignore[arg-type]
        **fields,
    )


def rows(page: httpx.Response) -> list[str]:
    """Record ids of an activity table, top to bottom."""
    assert page.status_code == 200, page.text[:2000]
    return [m.group(1) for m in ROW.finditer(page.text)]


def older_link(page: httpx.Response) -> str | None:
    """The "Older records" link of a page, if any."""
    found = re.search(r'<a href="([^"]+)" id="older"', page.text)
    return html.unescape(found.group(1)) if found else None


def create_server(
    provisioning: Provisioning, name: str, methods: list[str], tags: list[str]
) -> dict[str, Any]:
    """Mint a server through the admin API; its answer (with the URL, shown once)."""
    with provisioning.client() as admin:
        answer = admin.post(
            f"/integrated-account/{provisioning.account_id}/mcp",
            json={"name": name, "config": {"methods": methods, "tags": tags}},
        )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def test_server_page_shows_its_facts_tools_usage_and_activity(
    console: httpx.Client, provisioning: Provisioning
) -> None:
    """Id, fingerprint, config, the exact tools, the usage counters, and its records newest
    first, a page at a time, narrowed by outcome, tool, client and time."""
    account = provisioning.account_id
    server = create_server(provisioning, "triage page", ["read"], ["incidents"])
    server_id = server["id"]
    token = server["url"].rsplit("/", 1)[1]
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=1)
    records = [
        call(
            account,
            server_id,
            start + timedelta(seconds=i),
            tool="get_incident" if i % 3 == 0 else "list_incidents",
            outcome="tool_error" if i % 10 == 0 else "ok",
            error_code="upstream_error" if i % 10 == 0 else None,
            client_name="claude-code" if i % 2 else "claude-ai",
        )
        for i in range(PAGE_SIZE + 7)
    ]
    other = create_server(provisioning, "other server", ["read"], [])
    publish(provisioning, [*records, call(account, other["id"], now, tool="never_here")])
    # The usage counters gateways keep (last use, calls and errors per hour).
    with redis.Redis.from_url(provisioning.stack.redis_url) as valkey:
        valkey.hset(
            provisioning.stack.keys.server_usage(server_id),
            mapping={
                LAST_USED_FIELD: str(now.timestamp()),
                calls_field(hour_of(now.timestamp())): "57",
                errors_field(hour_of(now.timestamp())): "6",
            },
        )

    path = f"/console/accounts/{account}/servers/{server_id}"
    page = console.get(path)
    newest_first = [r.id for r in reversed(records)]
    assert rows(page) == newest_first[:PAGE_SIZE]
    text = page.text
    assert f"<code>{server_id}</code>" in text
    assert f'<code id="fingerprint">{hash_token(token)[:8]}</code>' in text
    assert token not in text
    assert hash_token(token) not in text
    assert 'class="badge status active">active<' in text
    exposed = [t.name for t in filter_tools(default_catalog().tools, ["read"], ["incidents"])]
    assert exposed
    tools = text.split('id="server-tools"')[1].split("</ul>")[0]
    assert re.findall(r"<li><code>([^<]+)</code></li>", tools) == exposed
    counts = text.split('id="counts-24h"')[1].split("</dd>")[0]
    assert "<strong>57</strong> calls, <strong>6</strong> errors" in counts
    assert f'datetime="{now.isoformat()}"' in text.split('id="last-used"')[1].split("</dd>")[0]
    assert '<time datetime="' in text
    assert "never_here" not in text

    # The older page holds the rest; the last page has no further link.
    older = older_link(page)
    assert older is not None
    second = console.get(older)
    assert rows(second)[: len(records) - PAGE_SIZE] == newest_first[PAGE_SIZE:]
    # ... then the oldest record of the server: provisioning's own record of its creation.
    created = second.text.split('<tr data-record-id="')[-1].split("</tr>")[0]
    assert len(rows(second)) == len(records) - PAGE_SIZE + 1
    created_id = rows(second)[-1]
    assert 'data-kind="admin"' in created
    assert "mcp_server.created" in created
    assert older_link(second) is None
    assert 'id="newest"' in second.text

    def ids(**query: str) -> list[str]:
        return rows(console.get(path, params=query))

    def expected(keep: Any) -> list[str]:
        return [r.id for r in reversed(records) if keep(r)][:PAGE_SIZE]

    assert ids(outcome="tool_error") == expected(lambda r: r.outcome == "tool_error")
    assert ids(tool="get_incident") == expected(lambda r: r.tool == "get_incident")
    assert ids(client="claude-code") == expected(lambda r: r.client_name == "claude-code")
    since = start + timedelta(seconds=40)
    assert ids(since=since.strftime("%Y-%m-%dT%H:%M:%S")) == [
        *expected(lambda r: r.time >= since),
        created_id,  # admin records have no outcome, tool or client, but a time
    ]
    both = ids(outcome="tool_error", client="claude-ai")
    assert both == expected(lambda r: r.outcome == "tool_error" and r.client_name == "claude-ai")
    assert both, "the filters select something"
    filtered = console.get(path, params={"tool": "get_incident"})
    assert 'id="filter-tool" name="tool" value="get_incident"' in filtered.text

    # A filter that is not one is reported next to its field, not a 500.
    wrong = console.get(path, params={"since": "yesterday-ish"})
    assert wrong.status_code == 422
    assert 'id="since-error"' in wrong.text
    assert console.get(path, params={"outcome": "maybe"}).status_code == 422


def test_ended_server_keeps_its_page_without_actions_or_secrets(
    console: httpx.Client, provisioning: Provisioning
) -> None:
    """A revoked server is listed with its status and has a page: who ended it and when, no
    edit or revoke, and nothing of its URL but the fingerprint."""
    account = provisioning.account_id
    server = create_server(provisioning, "revoked one", ["read"], [])
    server_id, url = server["id"], server["url"]
    token = url.rsplit("/", 1)[1]
    with provisioning.client() as admin:
        gone = admin.delete(f"/integrated-account/{account}/mcp/{server_id}")
    assert gone.status_code == 204, gone.text

    page = console.get(f"/console/accounts/{account}/servers/{server_id}")
    assert page.status_code == 200, page.text[:2000]
    text = page.text
    assert 'class="badge status revoked">revoked<' in text
    assert 'id="ended"' in text
    assert "was revoked on" in text
    assert f"/servers/{server_id}/edit" not in text
    assert f"/servers/{server_id}/revoke" not in text
    assert token not in text
    assert url not in text
    assert hash_token(token) not in text
    assert hash_token(token)[:8] in text

    listing = console.get(f"/console/accounts/{account}", params={"status": "revoked"})
    assert listing.status_code == 200
    row = listing.text.split(f'<tr data-server-id="{server_id}"')[1].split("</tr>")[0]
    assert 'data-status="revoked"' in row
    assert ">revoked<" in row
    assert f'href="/console/accounts/{account}/servers/{server_id}"' in row
    assert token not in listing.text
    active = console.get(f"/console/accounts/{account}", params={"status": "active"})
    assert f'data-server-id="{server_id}"' not in active.text
    assert 'data-status="revoked"' not in active.text


def test_account_activity_and_admin_history_list_the_right_records(
    console: httpx.Client, provisioning: Provisioning
) -> None:
    """The account page lists its calls and admin changes and no other account's; the history
    lists admin changes only, across accounts, and narrows to one operator."""
    account = provisioning.account_id
    server = create_server(provisioning, "activity", ["read"], [])
    operator = f"ops-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    mine_call = call(account, server["id"], now, tool="list_monitors")
    mine_change = change(
        operator,
        "mcp_server.updated",
        now + timedelta(seconds=1),
        account_id=account,
        server_id=server["id"],
        name="activity",
        changes={"name": "activity"},
    )
    elsewhere_change = change(
        operator, "account.created", now + timedelta(seconds=2), account_id="acc_elsewhere1"
    )
    elsewhere_call = call("acc_elsewhere1", "srv_elsewhere1", now + timedelta(seconds=3))
    someone_else = change("someone-else", "api_token.created", now + timedelta(seconds=4))
    publish(provisioning, [mine_call, mine_change, elsewhere_change, elsewhere_call, someone_else])

    activity_path = f"/console/accounts/{account}/activity"
    listed = rows(console.get(activity_path))
    assert listed[:2] == [mine_change.id, mine_call.id]
    assert elsewhere_change.id not in listed
    assert elsewhere_call.id not in listed
    assert someone_else.id not in listed
    assert rows(console.get(activity_path, params={"kind": "admin", "operator": operator})) == [
        mine_change.id
    ]
    calls_only = rows(console.get(activity_path, params={"kind": "call"}))
    assert mine_call.id in calls_only
    assert mine_change.id not in calls_only
    page = console.get(activity_path, params={"operator": operator})
    row = page.text.split(f'data-record-id="{mine_change.id}"')[1].split("</tr>")[0]
    assert operator in row
    assert "mcp_server.updated" in row
    assert "activity" in row
    assert f'href="/console/accounts/{account}/servers/{server["id"]}"' in row

    history = console.get("/console/history", params={"operator": operator})
    assert rows(history) == [elsewhere_change.id, mine_change.id]
    assert "<h1>Admin history</h1>" in history.text
    assert '<a href="/console/history" aria-current="page">Admin history</a>' in history.text
    everyone = rows(console.get("/console/history"))
    assert someone_else.id in everyone
    assert mine_call.id not in everyone
    assert elsewhere_call.id not in everyone


def test_arguments_and_names_are_escaped(console: httpx.Client, provisioning: Provisioning) -> None:
    """Whatever a client sent (arguments, its name, a tool name) is shown as text, collapsed."""
    account = provisioning.account_id
    server = create_server(provisioning, "escaping", ["read"], [])
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    record = call(
        account,
        server["id"],
        datetime.now(UTC),
        tool=f"list_{payload}",
        client_name=payload,
        arguments={"query": payload, "nested": {"why": payload}},
        outcome="protocol_error",
        error_code="unknown_tool",
    )
    publish(provisioning, [record])
    for path in (
        f"/console/accounts/{account}/servers/{server['id']}",
        f"/console/accounts/{account}/activity",
    ):
        page = console.get(path)
        assert record.id in rows(page)
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
        row = page.text.split(f'data-record-id="{record.id}"')[1].split("</tr>")[0]
        assert "&lt;script&gt;" in row
        assert "<details><summary>Arguments</summary>" in row
        assert ">protocol error<" in row
        assert "unknown_tool" in row


@pytest.fixture
def nats_outage(provisioning: Provisioning, tmp_path: Path) -> Iterator[tuple[str, NatsServer]]:
    """A provisioning replica on its own NATS server (same Valkey), which the test may stop."""
    server = NatsServer(tmp_path / "nats")
    server.start()
    processes: list[subprocess.Popen[str]] = []
    try:
        url, _, _ = start_provisioning(
            provisioning.stack,
            tmp_path,
            processes,
            STACKMCP_NATS_URL=server.url,
            STACKMCP_ADMIN_TOKEN=provisioning.admin_token,
            STACKMCP_NATS_REQUEST_TIMEOUT="1",
        )
        yield url, server
    finally:
        for process in processes:
            terminate(process)
        server.stop()


def test_jetstream_outage_is_an_unavailable_page(
    provisioning: Provisioning, nats_outage: tuple[str, NatsServer]
) -> None:
    """Without NATS the activity pages answer the console's 503 page, not an internal error."""
    url, server = nats_outage
    with sign_in(url, provisioning.admin_token) as client:
        history = client.get("/console/history")
        assert history.status_code == 200, history.text[:2000]
        server.stop()
        for path in ("/console/history", f"/console/accounts/{provisioning.account_id}/activity"):
            deadline = time.monotonic() + 30
            page = client.get(path)
            while page.status_code == 200 and time.monotonic() < deadline:
                time.sleep(0.1)  # poll: the replica notices the lost connection on its own
                page = client.get(path)
            assert page.status_code == 503, page.text[:2000]
            assert page.headers["content-type"].startswith("text/html")
            assert "Temporarily unavailable" in page.text
            assert page.headers.get("retry-after")
