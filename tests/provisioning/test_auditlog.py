"""The audit trail read back (:class:`AuditLog`) from a real JetStream audit stream.

A few hundred records of both kinds for two accounts x two servers are published once into a
stream of the module's own prefix; tests then page through it newest first, filter it, follow
it, and bound the scan. Tests that add records use a stream of their own.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import nats
import pytest
from jsonschema import Draft202012Validator
from nats.aio.client import Client

from stackmcp.contracts.audit import AdminChange, AuditEntry, ToolCallCompleted
from stackmcp.contracts.subjects import Subjects
from stackmcp.provisioning.auditlog import AuditLog, LogFilter, LogPage, encode_cursor
from stackmcp.runtime.config import AuditConfig
from stackmcp.runtime.errors import InvalidArgument, Unavailable
from stackmcp.runtime.events import ensure_audit_stream

ACCOUNTS = ("acc_00000000000000a1", "acc_00000000000000a2")
SERVERS = {
    ACCOUNTS[0]: ("srv_00000000000000b1", "srv_00000000000000b2"),
    ACCOUNTS[1]: ("srv_00000000000000b3", "srv_00000000000000b4"),
}
TOOLS = ("list_all_better_stack_incidents", "better_stack_incidents_acknowledge", "get_x")
OUTCOMES = ("ok", "ok", "tool_error", "refused", "protocol_error")
CLIENTS = ("claude-code", "claude-ai", None)
OPERATORS = ("admin", "alice", "expiry")
COUNT = 320
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=COUNT + 60)
"""The first record's time; re-set by :func:`_stamp` when the module's stream is filled."""

decoder = msgspec.json.Decoder(AuditEntry)


def _record(i: int) -> AuditEntry:
    account = ACCOUNTS[i % 2]
    server = SERVERS[account][(i // 2) % 2]
    time = BASE + timedelta(seconds=i)
    if i % 4 == 3:
        return AdminChange(
            id=f"adm-{i}",
            time=time,
            operator=OPERATORS[i % 3],
            action="mcp_server.updated",
            account_id=account,
            server_id=server,
            name="srv",
        )
    outcome = OUTCOMES[i % 5]
    return ToolCallCompleted(
        id=f"call-{i}",
        time=time,
        duration_ms=float(i),
        account_id=account,
        server_id=server,
        tool=TOOLS[i % 3],
        outcome=outcome,  # type: ignore[arg-type]
        error_code=None if outcome == "ok" else "x",
        client_name=CLIENTS[i % 3],
    )


RECORDS = [_record(i) for i in range(COUNT)]
"""The module's records, oldest first (re-stamped in place by :func:`_stamp`)."""


def _subject(subjects: Subjects, record: AuditEntry) -> str:
    if isinstance(record, ToolCallCompleted):
        return subjects.audit_call(record.account_id, record.server_id)
    return subjects.audit_admin(record.account_id, record.server_id)


async def _publish(nc: Client, subjects: Subjects, records: list[AuditEntry]) -> None:
    js = nc.jetstream()
    for record in records:
        await js.publish(_subject(subjects, record), msgspec.json.encode(record))


async def _fill(nats_url: str, subjects: Subjects, records: list[AuditEntry]) -> None:
    nc = await nats.connect(nats_url)
    try:
        await ensure_audit_stream(nc.jetstream(), subjects, AuditConfig(max_bytes=16 * 1024 * 1024))
        await _publish(nc, subjects, records)
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def filled(nats_server: Any) -> Subjects:
    """The module's stream, holding :data:`RECORDS` (stamped and published once)."""
    _stamp()
    subjects = Subjects(f"al{secrets.token_hex(3)}")
    asyncio.run(_fill(nats_server.url, subjects, RECORDS))
    return subjects


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def log(nc: Client, filled: Subjects) -> AuditLog:
    return AuditLog(nc.jetstream(), filled)


def _ids(page: LogPage) -> list[str]:
    return [decoder.decode(item).id for item in page.items]


async def _all(log: AuditLog, filters: LogFilter, limit: int) -> tuple[list[str], list[LogPage]]:
    """Every page from the newest on; the ids in order and the pages."""
    ids: list[str] = []
    pages: list[LogPage] = []
    cursor: str | None = None
    for _ in range(COUNT + 2):
        page = await log.page(filters, cursor=cursor, limit=limit)
        pages.append(page)
        ids += _ids(page)
        if page.next_cursor is None:
            return ids, pages
        cursor = page.next_cursor
    raise AssertionError("paging did not end")


def _newest_first(keep: Callable[[AuditEntry], bool]) -> list[str]:
    return [r.id for r in reversed(RECORDS) if keep(r)]


async def test_pages_return_every_record_once_newest_first(log: AuditLog) -> None:
    ids, pages = await _all(log, LogFilter(), limit=37)
    assert ids == _newest_first(lambda _: True)
    assert all(len(p.items) == 37 for p in pages[:-1])
    # Items are the stored JSON, byte for byte.
    first = pages[0].items[0]
    assert bytes(first) == msgspec.json.encode(RECORDS[-1])


def _call(r: AuditEntry) -> ToolCallCompleted | None:
    return r if isinstance(r, ToolCallCompleted) else None


def _admin(r: AuditEntry) -> AdminChange | None:
    return r if isinstance(r, AdminChange) else None


MIDDLE = BASE + timedelta(seconds=COUNT // 3)
LATE = BASE + timedelta(seconds=2 * COUNT // 3)


def _filters() -> dict[str, tuple[LogFilter, Callable[[AuditEntry], bool]]]:
    return {
        "account": (LogFilter(account_id=ACCOUNTS[1]), lambda r: r.account_id == ACCOUNTS[1]),
        "server": (
            LogFilter(server_id=SERVERS[ACCOUNTS[0]][1]),
            lambda r: r.server_id == SERVERS[ACCOUNTS[0]][1],
        ),
        "account+server": (
            LogFilter(account_id=ACCOUNTS[0], server_id=SERVERS[ACCOUNTS[0]][0]),
            lambda r: r.server_id == SERVERS[ACCOUNTS[0]][0],
        ),
        "kind call": (LogFilter(kind="call"), lambda r: _call(r) is not None),
        "kind admin": (LogFilter(kind="admin"), lambda r: _admin(r) is not None),
        "tool": (
            LogFilter(tool=TOOLS[1]),
            lambda r: (c := _call(r)) is not None and c.tool == TOOLS[1],
        ),
        "outcome": (
            LogFilter(outcome="refused"),
            lambda r: (c := _call(r)) is not None and c.outcome == "refused",
        ),
        "client": (
            LogFilter(client_name="claude-ai"),
            lambda r: (c := _call(r)) is not None and c.client_name == "claude-ai",
        ),
        "operator": (
            LogFilter(operator="alice"),
            lambda r: (a := _admin(r)) is not None and a.operator == "alice",
        ),
        "since": (LogFilter(since=MIDDLE), lambda r: r.time >= MIDDLE),
        "until": (LogFilter(until=MIDDLE), lambda r: r.time < MIDDLE),
        "since+until+server+outcome": (
            LogFilter(since=MIDDLE, until=LATE, server_id=SERVERS[ACCOUNTS[1]][0], outcome="ok"),
            lambda r: (
                (c := _call(r)) is not None
                and MIDDLE <= c.time < LATE
                and c.server_id == SERVERS[ACCOUNTS[1]][0]
                and c.outcome == "ok"
            ),
        ),
        "tool and operator never both match": (
            LogFilter(tool=TOOLS[0], operator="alice"),
            lambda _: False,
        ),
        "kind admin with a tool matches nothing": (
            LogFilter(kind="admin", tool=TOOLS[0]),
            lambda _: False,
        ),
    }


FILTERS = _filters()


def _stamp() -> None:
    """Give the records times just before now. The log finds records by when they were stored,
    which it expects within ``TIME_SLACK`` of their own time, so they are stamped when the
    module's stream is filled, not when the module was imported (a long suite reaches this
    module many minutes after collecting it)."""
    global BASE, MIDDLE, LATE  # noqa: PLW0603 - the module's records, re-stamped once
    BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=COUNT + 60)
    MIDDLE = BASE + timedelta(seconds=COUNT // 3)
    LATE = BASE + timedelta(seconds=2 * COUNT // 3)
    RECORDS[:] = [_record(i) for i in range(COUNT)]
    FILTERS.update(_filters())


@pytest.mark.parametrize("name", list(FILTERS))
async def test_each_filter_returns_exactly_the_matching_records(log: AuditLog, name: str) -> None:
    filters, keep = FILTERS[name]
    expected = _newest_first(keep)
    ids, _ = await _all(log, filters, limit=20)
    assert ids == expected
    if name.startswith(("tool and", "kind admin with")):
        assert expected == []
    else:
        assert 0 < len(expected) < COUNT


async def test_records_are_filtered_on_their_own_time(log: AuditLog) -> None:
    """An instant between two records splits them exactly (since inclusive, until exclusive)."""
    at = RECORDS[100].time
    newer, _ = await _all(log, LogFilter(since=at), limit=500)
    older, _ = await _all(log, LogFilter(until=at), limit=500)
    assert newer[-1] == RECORDS[100].id
    assert older[0] == RECORDS[99].id
    assert len(newer) + len(older) == COUNT


async def test_a_future_since_or_a_distant_past_until_finds_nothing(log: AuditLog) -> None:
    future = datetime.now(UTC) + timedelta(days=1)
    assert await log.page(LogFilter(since=future)) == LogPage(items=[], next_cursor=None)
    past = BASE - timedelta(days=1)
    assert await log.page(LogFilter(until=past)) == LogPage(items=[], next_cursor=None)


async def test_max_scan_gives_short_pages_whose_cursors_continue(
    nc: Client, filled: Subjects
) -> None:
    """With at most 25 records read per request, a sparse filter answers short pages with a
    cursor; following the cursors still yields every match exactly once, in order."""
    log = AuditLog(nc.jetstream(), filled, max_scan=25)
    filters = LogFilter(account_id=ACCOUNTS[0], tool=TOOLS[2], outcome="ok")
    expected = _newest_first(
        lambda r: (
            (c := _call(r)) is not None
            and c.account_id == ACCOUNTS[0]
            and c.tool == TOOLS[2]
            and c.outcome == "ok"
        )
    )
    ids, pages = await _all(log, filters, limit=10)
    assert ids == expected
    assert len(expected) > 5
    short = [p for p in pages if len(p.items) < 10 and p.next_cursor is not None]
    assert short, "the scan bound never cut a page short"
    # The bound holds per request: the account has 160 records, at most 25 read per page.
    assert len(pages) >= 160 // 25


async def test_reading_leaves_no_consumer_behind(
    nc: Client, log: AuditLog, filled: Subjects
) -> None:
    await _all(log, LogFilter(since=MIDDLE, until=LATE, tool=TOOLS[0]), limit=7)
    await log.after(LogFilter(), encode_cursor(1), limit=10)
    assert await nc.jetstream().consumers_info(filled.audit_stream) == []


async def test_after_returns_newer_records_oldest_first(nc: Client, nats_url: str) -> None:
    subjects = Subjects(f"af{secrets.token_hex(3)}")
    await _fill(nats_url, subjects, RECORDS[:10])
    log = AuditLog(nc.jetstream(), subjects)
    start = await log.after(LogFilter(), None)
    assert start.items == []
    assert start.next_cursor is not None
    again = await log.after(LogFilter(), start.next_cursor)
    assert again == LogPage(items=[], next_cursor=start.next_cursor)

    await _publish(nc, subjects, RECORDS[10:40])
    first = await log.after(LogFilter(), start.next_cursor, limit=12)
    assert _ids(first) == [r.id for r in RECORDS[10:22]]
    rest = await log.after(LogFilter(), first.next_cursor, limit=100)
    assert _ids(rest) == [r.id for r in RECORDS[22:40]]
    quiet = await log.after(LogFilter(), rest.next_cursor)
    assert quiet.items == []
    assert quiet.next_cursor == rest.next_cursor

    # Filtered: non-matching records move the cursor on too.
    await _publish(nc, subjects, RECORDS[40:60])
    admin = await log.after(LogFilter(kind="admin"), rest.next_cursor)
    assert _ids(admin) == [r.id for r in RECORDS[40:60] if isinstance(r, AdminChange)]
    assert (await log.after(LogFilter(), admin.next_cursor)).items == []

    # A page cursor and an after cursor are the same kind of position: no gap, no overlap.
    top = await log.after(LogFilter(), None)
    history, _ = await _all(log, LogFilter(), limit=15)
    below = await log.page(LogFilter(), cursor=top.next_cursor, limit=100)
    assert _ids(below) == history[:60] == [r.id for r in reversed(RECORDS[:60])]


@pytest.mark.parametrize(
    "cursor", ["", "nope", "!!!", encode_cursor(1)[:-2], "YXVkaXQ6LTE", "YXVkaXQ6MA"]
)
async def test_a_bad_cursor_is_an_invalid_argument(log: AuditLog, cursor: str) -> None:
    with pytest.raises(InvalidArgument, match="cursor"):
        await log.page(LogFilter(), cursor=cursor)
    with pytest.raises(InvalidArgument, match="cursor"):
        await log.after(LogFilter(), cursor)


async def test_bad_parameters_are_invalid_arguments(log: AuditLog) -> None:
    with pytest.raises(InvalidArgument, match="limit"):
        await log.page(LogFilter(), limit=0)
    with pytest.raises(InvalidArgument, match="time zone"):
        await log.page(LogFilter(since=datetime(2030, 1, 1)))
    with pytest.raises(InvalidArgument, match="account_id"):
        await log.page(LogFilter(account_id="acc.*"))


async def test_a_stream_not_created_yet_reads_as_empty(nc: Client) -> None:
    log = AuditLog(nc.jetstream(), Subjects(f"none{secrets.token_hex(3)}"))
    assert await log.page(LogFilter()) == LogPage(items=[], next_cursor=None)
    start = await log.after(LogFilter(), None)
    assert start == LogPage(items=[], next_cursor=encode_cursor(1))
    assert await log.after(LogFilter(), start.next_cursor) == start


async def test_an_empty_stream_reads_as_empty(nc: Client, nats_url: str) -> None:
    subjects = Subjects(f"em{secrets.token_hex(3)}")
    await _fill(nats_url, subjects, [])
    log = AuditLog(nc.jetstream(), subjects)
    assert await log.page(LogFilter()) == LogPage(items=[], next_cursor=None)
    assert (await log.after(LogFilter(), None)).next_cursor == encode_cursor(1)


async def test_jetstream_away_is_unavailable(nats_url: str, filled: Subjects) -> None:
    client = await nats.connect(nats_url)
    log = AuditLog(client.jetstream(), filled)
    await client.close()
    with pytest.raises(Unavailable):
        await log.page(LogFilter())
    with pytest.raises(Unavailable):
        await log.after(LogFilter(), None)


# --- GET /log through the real admin API ------------------------------------------------------


@pytest.fixture(scope="module")
def api_records(provisioning: Any) -> list[AuditEntry]:
    """Forty records of an account of their own, written into the stack's audit stream."""
    account = f"acc_{secrets.token_hex(8)}"
    server = f"srv_{secrets.token_hex(8)}"
    now = datetime.now(UTC)
    records: list[AuditEntry] = [
        msgspec.structs.replace(
            r,
            id=f"api-{secrets.token_hex(4)}-{i}",
            time=now - timedelta(seconds=40 - i),
            account_id=account,
            server_id=server,
        )
        for i, r in enumerate(RECORDS[:40])
    ]
    asyncio.run(_fill(provisioning.stack.nats_url, Subjects(provisioning.stack.prefix), records))
    return records


def _log(provisioning: Any, **params: str) -> httpx.Response:
    with provisioning.client() as client:
        return client.get("/log", params=params)


def test_get_log_pages_newest_first_with_raw_records(
    provisioning: Any, api_records: list[AuditEntry]
) -> None:
    account = api_records[0].account_id
    assert account is not None
    seen: list[bytes] = []
    cursor: dict[str, str] = {}
    for _ in range(10):
        answer = _log(provisioning, account_id=account, limit="15", **cursor)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        page = msgspec.json.decode(answer.content, type=LogPage)
        seen += [bytes(item) for item in page.items]
        if page.next_cursor is None:
            break
        cursor = {"cursor": page.next_cursor}
    assert seen == [msgspec.json.encode(r) for r in reversed(api_records)]


def test_get_log_filters_and_follows(provisioning: Any, api_records: list[AuditEntry]) -> None:
    account = api_records[0].account_id
    assert account is not None
    answer = _log(provisioning, account_id=account, kind="admin", operator="alice")
    assert answer.status_code == 200, answer.text
    expected = [
        r.id for r in reversed(api_records) if isinstance(r, AdminChange) and r.operator == "alice"
    ]
    assert [item["id"] for item in answer.json()["items"]] == expected
    assert expected

    top = _log(provisioning, account_id=account, after="")
    assert top.status_code == 200, top.text
    assert top.json()["items"] == []
    more = [msgspec.structs.replace(api_records[0], id=f"more-{i}") for i in range(3)]
    asyncio.run(_fill(provisioning.stack.nats_url, Subjects(provisioning.stack.prefix), more))
    newer = _log(provisioning, account_id=account, after=top.json()["next_cursor"])
    assert newer.status_code == 200, newer.text
    assert [item["id"] for item in newer.json()["items"]] == ["more-0", "more-1", "more-2"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"account_id": "acc_1"}, "account_id must be an id like acc_"),
        ({"server_id": "srv_*"}, "server_id must be an id like srv_"),
        ({"kind": "calls"}, "kind must be call or admin"),
        ({"outcome": "failed"}, "outcome must be one of ok, tool_error, refused, protocol_error"),
        ({"since": "yesterday"}, "since must be an RFC 3339 time"),
        ({"until": "2026-12-01T09:00:00"}, "until needs a time zone"),
        (
            {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"},
            "since must be before until",
        ),
        ({"limit": "0"}, "limit must be a whole number from 1 to 500"),
        ({"limit": "501"}, "limit must be a whole number from 1 to 500"),
        ({"limit": "9" * 5000}, "limit must be a whole number from 1 to 500"),
        ({"cursor": "nope"}, "cursor must be the next_cursor of an earlier answer"),
        ({"after": "nope"}, "after must be the next_cursor of an earlier answer"),
        ({"cursor": encode_cursor(5), "after": ""}, "not both"),
        ({"tool": ""}, "tool must be a tool name"),
        ({"client_name": "x\ny"}, "client_name must be an MCP client's name"),
        ({"operator": "o" * 201}, "operator must be an admin token's name"),
        ({"acount_id": "acc_0123456789abcdef"}, "unknown query parameter 'acount_id'"),
    ],
)
def test_get_log_names_each_bad_parameter(
    provisioning: Any, params: dict[str, str], message: str
) -> None:
    answer = _log(provisioning, **params)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_argument"
    assert message in error["message"]


def test_get_log_refuses_a_repeated_parameter(provisioning: Any) -> None:
    with provisioning.client() as client:
        answer = client.get("/log?kind=call&kind=admin")
    assert answer.status_code == 400
    assert "kind is given more than once" in answer.json()["error"]["message"]


def test_get_log_needs_the_admin_token(provisioning: Any) -> None:
    answer = httpx.get(f"{provisioning.url}/log", timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"


def test_get_log_is_in_the_openapi_document(
    provisioning: Any, api_records: list[AuditEntry]
) -> None:
    document = httpx.get(f"{provisioning.url}/openapi.json", timeout=10).json()
    operation = document["paths"]["/log"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert names >= {"account_id", "server_id", "kind", "outcome", "since", "cursor", "after"}
    assert "LogView" in document["components"]["schemas"]
    validator = Draft202012Validator(
        {"$ref": "#/components/schemas/LogView", "components": document["components"]}
    )
    answer = _log(provisioning, account_id=api_records[0].account_id or "", limit="40")
    assert len(answer.json()["items"]) == 40
    validator.validate(answer.json())
