"""``stackmcp log``, ``stackmcp admin-tokens`` and ``servers list --status``: flags, the requests
they send (against ``httpx.MockTransport``), then the real commands against the running
provisioning service, whose audit stream the tests write records into directly.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import nats
import pytest

from stackmcp.cli.__main__ import _parser, main
from stackmcp.cli.admin import run_admin
from stackmcp.cli.log import parse_moment, record_line
from stackmcp.contracts.audit import AdminChange, AuditEntry, ToolCallCompleted
from stackmcp.contracts.subjects import Subjects
from stackmcp.runtime.config import AuditConfig
from stackmcp.runtime.events import ensure_audit_stream
from tests.support.streams import LineReader, terminate

STACKMCP = Path(sys.executable).with_name("stackmcp")
ADMIN_TOKEN = "smcp_adm_test-admin-token"


@dataclass
class Result:
    """What one command did."""

    code: int
    out: str
    err: str


# --- flags -----------------------------------------------------------------------------------


def test_since_takes_rfc3339_or_a_time_ago() -> None:
    now = datetime.now(UTC)
    assert abs(parse_moment("15m") - (now - timedelta(minutes=15))) < timedelta(seconds=5)
    assert abs(parse_moment("7d") - (now - timedelta(days=7))) < timedelta(seconds=5)
    assert parse_moment("2026-12-01T09:00:00Z") == datetime(2026, 12, 1, 9, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="15m, 2h, 7d"):
        parse_moment("yesterday")
    with pytest.raises(argparse.ArgumentTypeError, match="time zone"):
        parse_moment("2026-12-01T09:00:00")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["log", "--kind", "calls"], "invalid choice: 'calls'"),
        (["log", "--outcome", "failed"], "invalid choice: 'failed'"),
        (["log", "--since", "yesterday"], "'yesterday' is not a time"),
        (["log", "--until", "2026-12-01T09:00:00"], "no time zone"),
        (["log", "--limit", "0"], "not a whole number from 1"),
        (["log", "--limit", "many"], "not a whole number from 1"),
        (["log", "--account", "acc_1"], "not an id like acc_"),
        (["log", "--server", "../x"], "not an id like srv_"),
        (["log", "--tool", ""], "1-200 characters"),
        (["servers", "list", "acc_1", "--status", "gone"], "invalid choice: 'gone'"),
        (["admin-tokens", "create"], "required: --name"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("stackmcp")


def test_since_after_until_is_a_usage_error() -> None:
    result, seen = _mock(["log", "--since", "1h", "--until", "2h"], lambda _: _page([]))
    assert result.code == 2
    assert "--since must be before --until" in result.err
    assert seen == []


# --- requests and output against a mock API -------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]
CALL = ToolCallCompleted(
    id="c1",
    time=datetime(2026, 12, 1, 9, 0, 1, 250000, tzinfo=UTC),
    duration_ms=1534.2,
    account_id="acc_0123456789abcdef",
    server_id="srv_0123456789abcdef",
    client_name="claude-code",
    tool="better_stack_incidents_acknowledge",
    outcome="tool_error",
    error_code="upstream_error",
)
ADMIN = AdminChange(
    id="a1",
    time=datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC),
    operator="alice",
    action="mcp_server.revoked",
    account_id="acc_0123456789abcdef",
    server_id="srv_0123456789abcdef",
)


def _page(items: list[AuditEntry], cursor: str | None = None) -> httpx.Response:
    body = b'{"items":[' + b",".join(msgspec.json.encode(i) for i in items) + b"]"
    body += b',"next_cursor":' + msgspec.json.encode(cursor) + b"}"
    return httpx.Response(200, content=body, headers={"content-type": "application/json"})


def _mock(argv: list[str], handler: Handler) -> tuple[Result, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    out, err = io.StringIO(), io.StringIO()
    code = run_admin(
        _parser().parse_args(argv),
        out=out,
        err=err,
        environ={"STACKMCP_ADMIN_URL": "http://admin.test", "STACKMCP_ADMIN_TOKEN": ADMIN_TOKEN},
        transport=httpx.MockTransport(record),
    )
    return Result(code, out.getvalue(), err.getvalue()), seen


def _query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(request.url)).query, keep_blank_values=True)


def test_log_sends_every_filter_and_prints_oldest_first() -> None:
    argv = [
        "log", "--account", CALL.account_id, "--server", CALL.server_id, "--kind", "call",
        "--tool", "t", "--outcome", "refused", "--client", "claude-ai", "--operator", "bob",
        "--since", "2026-12-01T10:00:00+01:00", "--until", "2026-12-02T00:00:00Z", "--limit", "7",
    ]  # fmt: skip
    result, seen = _mock(argv, lambda _: _page([CALL, ADMIN]))
    assert result.code == 0, result.err
    (request,) = seen
    assert request.url.path == "/log"
    assert _query(request) == {
        "account_id": [CALL.account_id],
        "server_id": [CALL.server_id],
        "kind": ["call"],
        "tool": ["t"],
        "outcome": ["refused"],
        "client_name": ["claude-ai"],
        "operator": ["bob"],
        "since": ["2026-12-01T09:00:00Z"],
        "until": ["2026-12-02T00:00:00Z"],
        "limit": ["7"],
    }
    header, first, second = result.out.splitlines()
    assert header.split()[:3] == ["TIME", "SERVER/OPERATOR", "CLIENT"]
    assert first == record_line(msgspec.to_builtins(ADMIN))
    assert first.split() == [
        "2026-12-01T09:00:00Z", "alice", "-", "mcp_server.revoked", "-", "-", "-", CALL.server_id,
    ]  # fmt: skip
    assert second.split() == [
        "2026-12-01T09:00:01Z", CALL.server_id, "claude-code", CALL.tool, "tool_error",
        "upstream_error", "1.5s",
    ]  # fmt: skip


def test_log_json_prints_each_record_as_the_api_sent_it() -> None:
    result, _ = _mock(["log", "--json"], lambda _: _page([CALL, ADMIN]))
    assert result.code == 0, result.err
    lines = result.out.encode().splitlines()
    assert lines == [msgspec.json.encode(ADMIN), msgspec.json.encode(CALL)]


def test_log_follows_short_pages_until_the_limit() -> None:
    """A page cut short by the API's scan bound is followed by its cursor, up to --limit."""
    answers = iter([_page([CALL], "c2"), _page([], "c3"), _page([ADMIN, CALL], "c4")])
    result, seen = _mock(["log", "--json", "--limit", "3"], lambda _: next(answers))
    assert result.code == 0, result.err
    assert [_query(r).get("cursor") for r in seen] == [None, ["c2"], ["c3"]]
    assert [_query(r)["limit"] for r in seen] == [["3"], ["2"], ["2"]]
    assert len(result.out.splitlines()) == 3


def test_an_answer_that_is_not_a_log_page_exits_5() -> None:
    result, _ = _mock(["log"], lambda _: httpx.Response(200, json={"hello": 1}))
    assert result.code == 5
    assert "GET /log" in result.err


def test_servers_list_passes_the_status_and_shows_usage() -> None:
    server = {
        "id": "srv_1", "name": "n", "status": "revoked", "config": {"methods": ["read"]},
        "tool_count": 3, "expires_at": None, "last_used_at": None, "calls_24h": 12,
        "errors_24h": 2,
    }  # fmt: skip
    result, seen = _mock(
        ["servers", "list", "acc_1", "--status", "revoked"],
        lambda _: httpx.Response(200, json={"items": [server]}),
    )
    assert result.code == 0, result.err
    assert str(seen[0].url).endswith("/integrated-account/acc_1/mcp?status=revoked")
    header, row = result.out.splitlines()
    assert header.split()[-3:] == ["LAST_USED", "CALLS_24H", "ERRORS_24H"]
    assert row.split()[-3:] == ["-", "12", "2"]
    _, seen = _mock(["servers", "list", "acc_1"], lambda _: httpx.Response(200, json={"items": []}))
    assert str(seen[0].url).endswith("/integrated-account/acc_1/mcp")


def test_servers_show_prints_history_and_usage_and_tolerates_older_apis() -> None:
    server = {
        "id": "srv_1", "status": "revoked", "ended_at": "2026-12-01T09:00:00Z",
        "ended_by": "alice", "created_by": "admin", "fingerprint": "0a1b2c3d",
        "last_used_at": "2026-12-01T08:59:00Z", "calls_24h": 5, "errors_24h": 1,
    }  # fmt: skip
    result, _ = _mock(
        ["servers", "show", "acc_1", "srv_1"], lambda _: httpx.Response(200, json=server)
    )
    assert result.code == 0, result.err
    shown = {
        k.strip(): v.strip()
        for k, _, v in (line.partition(":") for line in result.out.splitlines())
    }
    assert shown["ended"].startswith("2026-12-01T09:00:00Z")
    assert shown["ended by"] == "alice"
    assert shown["created by"] == "admin"
    assert shown["fingerprint"] == "0a1b2c3d"
    assert shown["last used"].startswith("2026-12-01T08:59:00Z")
    assert (shown["calls (24h)"], shown["errors (24h)"]) == ("5", "1")
    older, _ = _mock(["servers", "show", "acc_1", "srv_1"], lambda _: httpx.Response(200, json={}))
    assert older.code == 0, older.err
    assert "ended" not in older.out


def test_admin_tokens_commands_send_what_the_api_expects() -> None:
    created = {"id": "adm_1", "name": "alice", "created_at": "2026-12-01T09:00:00Z",
               "created_by": "admin", "token": "smcp_adm_secret"}  # fmt: skip
    result, seen = _mock(
        ["admin-tokens", "create", "--name", "alice"], lambda _: httpx.Response(201, json=created)
    )
    assert result.code == 0, result.err
    assert (seen[0].method, seen[0].url.path) == ("POST", "/admin-token")
    assert json.loads(seen[0].content) == {"name": "alice"}
    assert "smcp_adm_secret" in result.out
    assert "shown only now" in result.out
    _, seen = _mock(["admin-tokens", "revoke", "adm_1/x"], lambda _: httpx.Response(204))
    assert (seen[0].method, seen[0].url.raw_path) == ("DELETE", b"/admin-token/adm_1%2Fx")


# --- against the real provisioning service ----------------------------------------------------


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKMCP_")}
    env.update(extra)
    return env


@dataclass
class Live:
    """The running provisioning service and a private account id for records written here."""

    provisioning: Any
    account_id: str
    server_id: str
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    @property
    def env(self) -> dict[str, str]:
        return _clean_env(
            STACKMCP_ADMIN_URL=self.provisioning.url,
            STACKMCP_ADMIN_TOKEN=self.provisioning.admin_token,
        )

    def __call__(self, *argv: str, token: str | None = None) -> Result:
        """``stackmcp *argv`` in this process."""
        for name in list(os.environ):
            if name.startswith("STACKMCP_"):
                self.monkeypatch.delenv(name)
        self.monkeypatch.setenv("STACKMCP_ADMIN_URL", self.provisioning.url)
        self.monkeypatch.setenv("STACKMCP_ADMIN_TOKEN", token or self.provisioning.admin_token)
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        captured = self.capsys.readouterr()
        code = exit_info.value.code
        return Result(code if isinstance(code, int) else 1, captured.out, captured.err)

    def publish(self, records: Sequence[AuditEntry]) -> None:
        """Write ``records`` into the stack's audit stream."""
        asyncio.run(
            _publish(self.provisioning.stack.nats_url, self.provisioning.stack.prefix, records)
        )

    def call(self, n: int, **fields: Any) -> ToolCallCompleted:
        return ToolCallCompleted(
            id=f"cli-{secrets.token_hex(6)}",
            time=datetime.now(UTC),
            duration_ms=float(n),
            account_id=self.account_id,
            server_id=self.server_id,
            tool=f"tool_{n}",
            outcome="ok",
            **fields,
        )


async def _publish(nats_url: str, prefix: str, records: Sequence[AuditEntry]) -> None:
    subjects = Subjects(prefix)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_audit_stream(js, subjects, AuditConfig(max_bytes=16 * 1024 * 1024))
        for r in records:
            subject = (
                subjects.audit_call(r.account_id, r.server_id)
                if isinstance(r, ToolCallCompleted)
                else subjects.audit_admin(r.account_id, r.server_id)
            )
            await js.publish(subject, msgspec.json.encode(r))
    finally:
        await nc.close()


@pytest.fixture
def live(
    provisioning: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Live:
    return Live(
        provisioning,
        f"acc_{secrets.token_hex(8)}",
        f"srv_{secrets.token_hex(8)}",
        monkeypatch,
        capsys,
    )


def test_log_json_lines_are_the_records_as_published(live: Live) -> None:
    records = [live.call(i, client_name="claude-code") for i in range(5)]
    live.publish(records)
    result = live("log", "--account", live.account_id, "--json")
    assert result.code == 0, result.err
    assert result.out.encode().splitlines() == [msgspec.json.encode(r) for r in records]

    shown = live("log", "--account", live.account_id, "--limit", "2")
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert len(lines) == 3  # the header and the newest two, oldest first
    assert "tool_3" in lines[1]
    assert "tool_4" in lines[2]
    assert "claude-code" in lines[2]


def test_log_follow_prints_records_published_after_it_started(live: Live) -> None:
    old = live.call(0)
    live.publish([old])
    proc = subprocess.Popen(
        [str(STACKMCP), "log", "--account", live.account_id, "--follow", "--json"],
        env=live.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        reader = LineReader(proc.stdout)
        reader.wait_for(old.id, timeout=20)
        new = [live.call(1), live.call(2)]
        live.publish(new)
        reader.wait_for(new[1].id, timeout=20)
        assert [json.loads(line)["id"] for line in reader.lines] == [old.id, new[0].id, new[1].id]
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    finally:
        terminate(proc)


def test_log_follow_ends_quietly_on_sigterm(live: Live) -> None:
    proc = subprocess.Popen(
        [str(STACKMCP), "log", "--account", live.account_id, "--follow"],
        env=live.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        reader = LineReader(proc.stdout)
        reader.wait_for("TIME", timeout=20)
        record = live.call(7)
        live.publish([record])
        reader.wait_for("tool_7", timeout=20)
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == ""
    finally:
        terminate(proc)


def test_log_refusals_and_auth_map_to_exit_codes(live: Live) -> None:
    wrong = live("log", token=f"smcp_adm_{secrets.token_urlsafe(32)}")
    assert wrong.code == 3
    assert "Traceback" not in wrong.err


def _admin_token_routes(provisioning: Any) -> bool:
    with provisioning.client() as client:
        return bool(client.get("/admin-token").status_code == 200)


@pytest.fixture
def admin_tokens(provisioning: Any) -> None:
    if not _admin_token_routes(provisioning):
        pytest.skip("the provisioning service has no /admin-token routes yet")


@pytest.mark.usefixtures("admin_tokens")
def test_admin_tokens_create_list_revoke(live: Live) -> None:
    name = f"op-{secrets.token_hex(3)}"
    created = live("admin-tokens", "create", "--name", name, "--json")
    assert created.code == 0, created.err
    answer = json.loads(created.out)
    assert "shown only now" in created.err
    token, token_id = answer["token"], answer["id"]

    listed = live("admin-tokens", "list")
    assert listed.code == 0, listed.err
    row = next(line for line in listed.out.splitlines() if line.startswith(token_id))
    assert name in row
    assert token not in listed.out

    # The new token works, and what it does is recorded under its name.
    assert live("tokens", "list", token=token).code == 0
    assert live("admin-tokens", "revoke", token_id).code == 0
    assert token_id not in live("admin-tokens", "list").out
    assert live("tokens", "list", token=token).code == 3
    history = live("log", "--kind", "admin", "--operator", "admin", "--since", "5m", "--json")
    assert history.code == 0, history.err
    actions = {(r["action"], r.get("target_id")) for r in map(json.loads, history.out.splitlines())}
    assert {("admin_token.created", token_id), ("admin_token.revoked", token_id)} <= actions


def test_servers_list_status_against_the_api(live: Live) -> None:
    account = live.provisioning.account_id
    created = live("servers", "create", account, "--name", "cli status", "--json")
    assert created.code == 0, created.err
    server_id = json.loads(created.out)["id"]
    assert live("servers", "revoke", account, server_id).code == 0
    revoked = live("servers", "list", account, "--status", "revoked")
    assert revoked.code == 0, revoked.err
    assert server_id in revoked.out
    active = live("servers", "list", account, "--status", "active")
    assert active.code == 0, active.err
    assert server_id not in active.out
    shown = live("servers", "show", account, server_id)
    assert shown.code == 0, shown.err
    assert "ended by:" in shown.out
    assert "fingerprint:" in shown.out
