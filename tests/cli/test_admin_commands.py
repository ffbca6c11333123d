"""``stackmcp accounts|servers|tokens``: duration parsing, the request each command sends and the
exit code each answer maps to (against ``httpx.MockTransport``), then the real commands against
a real provisioning service, in-process and through the ``stackmcp`` console script.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from stackmcp.cli.__main__ import _parser, main
from stackmcp.cli.admin import parse_duration, parse_instant, run_admin, wire_time
from stackmcp.cli.output import relative, when
from stackmcp.embedded import free_port
from stackmcp.provisioning.clientconfig import client_config, guidance_lines

STACKMCP = Path(sys.executable).with_name("stackmcp")
ADMIN_TOKEN = "smcp_adm_test-admin-token"
BETTERSTACK_TOKEN = "bs-secret-token-do-not-print"


@dataclass
class Result:
    """What one command did."""

    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        """stdout as JSON."""
        return json.loads(self.out)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKMCP_")}
    # No local `stackmcp up` data directory either (the checkout's .stackmcp holds a token).
    env["STACKMCP_DATA_DIR"] = "/nonexistent/stackmcp-test-data"
    env.update(extra)
    return env


def _console(*args: str, env: dict[str, str], stdin: str = "") -> Result:
    done = subprocess.run(
        [str(STACKMCP), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


# --- durations and times ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d12h5m1s", timedelta(days=2, hours=12, minutes=5, seconds=1)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    """Units d, h, m, s, alone or combined largest first, parse to the right length."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "h", "1x", "1.5h", "-1h", "1 h", "30m1h", "1H", "0m"])
def test_bad_durations_are_refused_with_a_hint(text: str) -> None:
    """Bare numbers, unknown units, fractions, spaces, wrong order and zero are refused."""
    with pytest.raises(argparse.ArgumentTypeError, match="90s, 30m, 1h, 2d"):
        parse_duration(text)


def test_a_bad_duration_on_the_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse reports the friendly message and exits 2 before any request."""
    with pytest.raises(SystemExit) as exit_info:
        main(["servers", "create", "acc_x", "--name", "n", "--expires-in", "soon"])
    assert exit_info.value.code == 2
    assert "'soon' is not a duration" in capsys.readouterr().err


def test_expires_at_needs_a_time_zone() -> None:
    """A naive time is refused; an aware one is sent as UTC with Z."""
    with pytest.raises(argparse.ArgumentTypeError, match="no time zone"):
        parse_instant("2030-01-01T00:00:00")
    with pytest.raises(argparse.ArgumentTypeError, match="not an ISO-8601"):
        parse_instant("tomorrow")
    assert wire_time(parse_instant("2030-01-01T02:00:00+02:00")) == "2030-01-01T00:00:00Z"


def test_times_show_iso_and_relative() -> None:
    """Expiry shows the UTC time and the distance in its two largest units."""
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert relative(now + timedelta(minutes=59, seconds=59.9), now) == "in 59m"
    assert relative(now + timedelta(hours=1, minutes=30), now) == "in 1h30m"
    assert relative(now - timedelta(days=2, hours=3, minutes=4), now) == "2d3h ago"
    assert relative(now + timedelta(seconds=45), now) == "in 45s"
    assert when("2030-01-01T01:00:00.25Z", now) == "2030-01-01T01:00:00Z (in 1h)"
    assert when(None, now) == "never"


# --- requests and exit codes against a mock API -----------------------------------------------


Handler = Callable[[httpx.Request], httpx.Response]


def _mock(
    argv: list[str], handler: Handler, *, stdin: str = ""
) -> tuple[Result, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    out, err = io.StringIO(), io.StringIO()
    code = run_admin(
        _parser().parse_args(argv),
        out=out,
        err=err,
        stdin=io.StringIO(stdin),
        environ={"STACKMCP_ADMIN_URL": "http://admin.test", "STACKMCP_ADMIN_TOKEN": ADMIN_TOKEN},
        transport=httpx.MockTransport(record),
    )
    return Result(code, out.getvalue(), err.getvalue()), seen


def _error(status: int, code: str, message: str, **fields: list[str]) -> Handler:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return lambda _: httpx.Response(status, json={"error": error})


def test_create_sends_the_filter_and_a_utc_expiry_with_the_admin_token() -> None:
    """servers create posts name, config and expires_at ≈ now + --expires-in."""
    server = {"id": "srv_1", "url": "http://gw/mcp/x", "config": {}, "client_config": {}}
    result, seen = _mock(
        [
            "servers", "create", "acc/1", "--name", "triage", "--methods", "read, write",
            "--tags", "incidents,on_call", "--require-api-token", "--expires-in", "1h30m",
        ],
        lambda _: httpx.Response(201, json=server),
    )  # fmt: skip
    assert result.code == 0, result.err
    (request,) = seen
    assert request.method == "POST"
    assert request.url.raw_path == b"/integrated-account/acc%2F1/mcp"
    assert request.headers["Authorization"] == f"Bearer {ADMIN_TOKEN}"
    body = json.loads(request.content)
    assert body["name"] == "triage"
    assert body["config"] == {
        "methods": ["read", "write"],
        "tags": ["incidents", "on_call"],
        "require_api_token_auth": True,
    }
    expires = datetime.fromisoformat(body["expires_at"])
    assert body["expires_at"].endswith("Z")
    assert abs(expires - datetime.now(UTC) - timedelta(hours=1, minutes=30)) < timedelta(seconds=30)


def test_create_leaves_defaults_to_the_api() -> None:
    """Without filter or expiry options only the name is sent."""
    _, seen = _mock(
        ["servers", "create", "acc_1", "--name", "n"],
        lambda _: httpx.Response(201, json={"id": "srv_1", "url": "u"}),
    )
    assert json.loads(seen[0].content) == {"name": "n"}


def test_update_sends_only_what_changes_and_null_to_clear_expiry() -> None:
    """--no-expiry sends expires_at null; --no-require-api-token sends false."""
    _, seen = _mock(
        ["servers", "update", "acc_1", "srv_1", "--no-expiry", "--no-require-api-token"],
        lambda _: httpx.Response(200, json={"id": "srv_1"}),
    )
    assert seen[0].method == "PATCH"
    assert json.loads(seen[0].content) == {
        "config": {"require_api_token_auth": False},
        "expires_at": None,
    }


def test_update_without_changes_is_a_usage_error() -> None:
    """Nothing to change: exit 2 and no request."""
    result, seen = _mock(["servers", "update", "acc_1", "srv_1"], lambda _: httpx.Response(200))
    assert result.code == 2
    assert "nothing to change" in result.err
    assert seen == []


def test_add_reads_the_token_from_stdin_and_never_prints_it() -> None:
    """The token goes in the body only; a message echoing it is masked."""
    echo = _error(422, "invalid_argument", f"bad token {BETTERSTACK_TOKEN}")
    result, seen = _mock(
        ["accounts", "add", "--name", "Prod", "--token-stdin", "--team", "Ops", "--verify"],
        echo,
        stdin=f"{BETTERSTACK_TOKEN}\n",
    )
    assert json.loads(seen[0].content) == {
        "integration": "betterstack",
        "name": "Prod",
        "betterstack_token": BETTERSTACK_TOKEN,
        "team_name": "Ops",
        "verify": True,
    }
    assert result.code == 1
    assert BETTERSTACK_TOKEN not in result.out + result.err
    assert "<redacted>" in result.err


def test_add_without_a_token_source_and_no_terminal_exits_2() -> None:
    """stdin is not a terminal and no --token-stdin: say how to give the token."""
    result, seen = _mock(["accounts", "add", "--name", "Prod"], lambda _: httpx.Response(201))
    assert result.code == 2
    assert "--token-stdin" in result.err
    assert seen == []


def test_field_errors_exit_1_with_each_field() -> None:
    """422: the API's message, then ``  field: message`` per problem."""
    handler = _error(
        422,
        "invalid_argument",
        "the server config is invalid",
        **{"config.tags": ["unknown tag 'nope'"], "name": ["too long"]},
    )
    result, _ = _mock(["servers", "create", "acc_1", "--name", "n"], handler)
    assert result.code == 1
    lines = result.err.splitlines()
    assert "the server config is invalid" in lines[0]
    assert "  config.tags: unknown tag 'nope'" in lines
    assert "  name: too long" in lines
    assert result.out == ""


def test_json_prints_the_error_body_as_received() -> None:
    """--json puts the API's error body on stdout for scripts."""
    handler = _error(409, "conflict", "already exists")
    result, _ = _mock(["tokens", "create", "--name", "ci", "--json"], handler)
    assert result.code == 1
    assert result.json == {"error": {"code": "conflict", "message": "already exists"}}


def _raise(exc: Exception) -> Handler:
    def handler(_: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("handler", "code"),
    [
        (_error(401, "unauthenticated", "bad admin token"), 3),
        (_error(404, "not_found", "no such account"), 4),
        (_error(502, "upstream_error", "Better Stack refused the token"), 1),
        (_error(503, "unavailable", "redis is down"), 5),
        (lambda _: httpx.Response(500, text="Internal Server Error"), 5),
        (lambda _: httpx.Response(404, text="Not Found"), 5),
        (lambda _: httpx.Response(200, text="<html>"), 5),
        (_raise(httpx.ConnectError("[Errno 111] Connection refused")), 5),
        (_raise(httpx.ReadTimeout("timed out")), 5),
    ],
)
def test_answers_map_to_exit_codes(handler: Handler, code: int) -> None:
    """401 → 3, 404 → 4, verify refused → 1, 5xx / not the API / network → 5."""
    result, _ = _mock(["accounts", "list"], handler)
    assert result.code == code, result.err
    assert result.err.startswith("stackmcp: ")
    assert "Traceback" not in result.err
    assert ADMIN_TOKEN not in result.out + result.err


def test_delete_prints_nothing_with_json() -> None:
    """A 204 has no body, so --json prints nothing; people get a sentence."""
    result, seen = _mock(["tokens", "revoke", "apt_1", "--json"], lambda _: httpx.Response(204))
    assert (result.code, result.out, seen[0].method) == (0, "", "DELETE")
    result, _ = _mock(["tokens", "revoke", "apt_1"], lambda _: httpx.Response(204))
    assert result.out == "Revoked API token apt_1.\n"


# --- configuration errors through the console script ------------------------------------------


def test_no_admin_token_exits_2_naming_the_variables() -> None:
    """Without STACKMCP_ADMIN_TOKEN(_FILE) nothing is sent; exit 2 says what to set."""
    result = _console("accounts", "list", env=_clean_env())
    assert result.code == 2
    assert "STACKMCP_ADMIN_TOKEN" in result.err
    assert "STACKMCP_ADMIN_TOKEN_FILE" in result.err
    assert "Traceback" not in result.err


def test_an_unreadable_token_file_exits_2(tmp_path: Path) -> None:
    """A token file that does not exist is a configuration error."""
    missing = str(tmp_path / "absent")
    result = _console("tokens", "list", env=_clean_env(STACKMCP_ADMIN_TOKEN_FILE=missing))
    assert result.code == 2
    assert "STACKMCP_ADMIN_TOKEN_FILE" in result.err


def test_a_closed_port_exits_5_naming_the_url() -> None:
    """Nobody listens: exit 5, the URL in the message, no traceback, no token."""
    url = f"http://127.0.0.1:{free_port()}"
    result = _console(
        "servers", "list", "acc_1", "--url", url, env=_clean_env(STACKMCP_ADMIN_TOKEN=ADMIN_TOKEN)
    )
    assert result.code == 5
    assert url in result.err
    assert "Traceback" not in result.err
    assert ADMIN_TOKEN not in result.err


def test_a_url_that_is_not_http_exits_2() -> None:
    """A URL without scheme is a configuration error, not a network one."""
    env = _clean_env(STACKMCP_ADMIN_TOKEN=ADMIN_TOKEN, STACKMCP_ADMIN_URL="localhost:8081")
    result = _console("tokens", "list", env=env)
    assert result.code == 2
    assert "localhost:8081" in result.err


# --- against the real provisioning service ----------------------------------------------------


@dataclass
class Admin:
    """Runs admin commands in-process against the provisioning fixture."""

    url: str
    token: str
    account_id: str
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    @property
    def env(self) -> dict[str, str]:
        """Environment for the console script."""
        return _clean_env(STACKMCP_ADMIN_URL=self.url, STACKMCP_ADMIN_TOKEN=self.token)

    def __call__(self, *argv: str, stdin: str = "") -> Result:
        """``stackmcp *argv`` in this process; returns its exit code and output."""
        for name in list(os.environ):
            if name.startswith("STACKMCP_"):
                self.monkeypatch.delenv(name)
        self.monkeypatch.setenv("STACKMCP_ADMIN_URL", self.url)
        self.monkeypatch.setenv("STACKMCP_ADMIN_TOKEN", self.token)
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        captured = self.capsys.readouterr()
        code = exit_info.value.code
        return Result(code if isinstance(code, int) else 1, captured.out, captured.err)

    def create_server(self, *options: str) -> dict[str, Any]:
        """Create a server on the fixture's account; returns the API's answer."""
        result = self("servers", "create", self.account_id, "--json", *options)
        assert result.code == 0, result.err
        answer: dict[str, Any] = result.json
        return answer


@pytest.fixture
def admin(
    provisioning: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Admin:
    """In-process admin commands bound to the running provisioning service."""
    return Admin(
        provisioning.url, provisioning.admin_token, provisioning.account_id, monkeypatch, capsys
    )


def test_accounts_add_list_show_remove_never_print_the_token(admin: Admin) -> None:
    """The Better Stack token goes in through stdin and never comes out."""
    added = admin("accounts", "add", "--name", "CLI test", "--token-stdin", "--json",
                  stdin=BETTERSTACK_TOKEN + "\n")  # fmt: skip
    assert added.code == 0, added.err
    account_id = added.json["id"]
    assert added.json["name"] == "CLI test"
    outputs = [added]
    listed = admin("accounts", "list")
    assert listed.code == 0, listed.err
    row = next(line for line in listed.out.splitlines() if line.startswith(account_id))
    assert "CLI test" in row
    outputs.append(listed)
    outputs.append(admin("accounts", "list", "--json"))
    assert account_id in [a["id"] for a in outputs[-1].json["items"]]
    shown = admin("accounts", "show", account_id)
    assert shown.code == 0, shown.err
    assert "name:" in shown.out
    assert "CLI test" in shown.out
    outputs.append(shown)
    assert all(BETTERSTACK_TOKEN not in r.out + r.err for r in outputs)
    assert admin("accounts", "remove", account_id).code == 0
    assert admin("accounts", "show", account_id).code == 4


def test_server_create_prints_the_url_once_with_client_config(admin: Admin) -> None:
    """Human output: the URL with a store-it line, what works on a loopback URL (Claude Code,
    Desktop through mcp-remote, other clients) and not Claude's custom connector, which calls
    from Anthropic's cloud; the client name is not prefixed twice."""
    result = admin("servers", "create", admin.account_id, "--name", "Better Stack cli triage",
                   "--methods", "read", "--tags", "incidents", "--expires-in", "1h")  # fmt: skip
    assert result.code == 0, result.err
    out = result.out
    url = next(line.strip() for line in out.splitlines() if "/mcp/" in line)
    assert url.startswith("http://127.0.0.1:"), url
    assert "shown only now" in out
    assert "Note: This URL is only reachable from this machine" in out
    assert "Add custom connector" not in out
    assert f"claude mcp add --transport http better-stack-cli-triage {url}" in out
    start = out.index("{", out.index("claude_desktop_config.json"))
    desktop, _ = json.JSONDecoder().raw_decode(out[start:])
    entry = desktop["mcpServers"]["better-stack-cli-triage"]
    assert entry == {"command": "npx", "args": ["-y", "mcp-remote", url]}
    assert "Other MCP clients:" in out
    assert "API token" not in out
    assert "(in 59m)" in out


def test_server_create_prints_the_guidance_the_api_computed() -> None:
    """The human output is the answer's guidance, as the console shows it: for a public https
    server with the second factor, the custom connector with sign-in, Claude Code with sign-in
    or x-api-key, Desktop with the token from the environment."""
    url = "https://mcp.acme.io/mcp/smcp_srv_x"
    server = {
        "id": "srv_1",
        "url": url,
        "config": {"require_api_token_auth": True},
        "client_config": client_config(url, "triage", require_api_token=True),
    }
    result, _ = _mock(
        ["servers", "create", "acc_1", "--name", "triage", "--require-api-token"],
        lambda _: httpx.Response(201, json=server),
    )
    assert result.code == 0, result.err
    out = result.out
    assert "\n".join(guidance_lines(server["client_config"])) in out
    assert "Add custom connector" in out
    assert "stackmcp tokens create --name NAME" in out
    assert f"better-stack-triage {url} --header 'x-api-key: <API token>'" in out
    assert '"x-api-key:${STACKMCP_API_TOKEN}"' in out
    assert "Note:" not in out


def test_list_and_show_never_contain_the_url(admin: Admin) -> None:
    """After create, neither the table, the details nor their JSON holds the URL token."""
    server = admin.create_server("--name", "cli secret", "--tags", "incidents")
    secret = server["url"].rstrip("/").rsplit("/", 1)[1]
    assert server["client_config"]["connector_url"] == server["url"]
    for argv in (
        ("servers", "list", admin.account_id),
        ("servers", "list", admin.account_id, "--json"),
        ("servers", "show", admin.account_id, server["id"]),
        ("servers", "show", admin.account_id, server["id"], "--json"),
    ):
        result = admin(*argv)
        assert result.code == 0, result.err
        assert server["id"] in result.out
        assert secret not in result.out + result.err


def test_update_methods_and_expiry_then_revoke(admin: Admin) -> None:
    """update changes methods and expiry; --no-expiry clears it; revoke makes show exit 4."""
    server = admin.create_server("--name", "cli update", "--methods", "read")
    ids = (admin.account_id, server["id"])
    updated = admin("servers", "update", *ids, "--methods", "read,write", "--expires-in", "2h",
                    "--json")  # fmt: skip
    assert updated.code == 0, updated.err
    assert updated.json["config"]["methods"] == ["read", "write"]
    expires = datetime.fromisoformat(updated.json["expires_at"])
    assert abs(expires - datetime.now(UTC) - timedelta(hours=2)) < timedelta(minutes=1)
    shown = admin("servers", "show", *ids)
    assert "read,write" in shown.out
    assert "(in 1h59m)" in shown.out
    cleared = admin("servers", "update", *ids, "--no-expiry")
    assert cleared.code == 0, cleared.err
    assert admin("servers", "show", *ids, "--json").json["expires_at"] is None
    revoked = admin("servers", "revoke", *ids)
    assert revoked.code == 0, revoked.err
    # A revoked server stays as history: shown with its status and who ended it.
    gone = admin("servers", "show", *ids)
    assert gone.code == 0, gone.err
    shown_fields = dict(line.split(":", 1) for line in gone.out.splitlines())
    assert shown_fields["status"].strip() == "revoked"
    assert shown_fields["ended by"].strip() == "admin"
    again = admin("servers", "revoke", *ids)
    assert again.code == 1
    assert "already revoked" in again.err


def test_an_unknown_tag_exits_1_naming_it(admin: Admin) -> None:
    """The API's 422 is shown with the field problem naming the tag."""
    result = admin("servers", "create", admin.account_id, "--name", "n", "--tags",
                   "incidents,no-such-tag")  # fmt: skip
    assert result.code == 1
    assert "no-such-tag" in result.err
    assert any(line.startswith("  ") and ":" in line for line in result.err.splitlines())


def test_tokens_create_list_revoke(admin: Admin) -> None:
    """The token is printed once; the list shows the id and name only; revoke removes it."""
    created = admin("tokens", "create", "--name", "cli-ci")
    assert created.code == 0, created.err
    assert "shown only now" in created.out
    token = next(w for w in created.out.split() if w.startswith("smcp_api_"))
    token_id = next(w for w in created.out.split() if w.startswith("apt_"))
    listed = admin("tokens", "list")
    assert any(line.split()[:2] == [token_id, "cli-ci"] for line in listed.out.splitlines())
    assert token not in listed.out + admin("tokens", "list", "--json").out
    assert admin("tokens", "revoke", token_id).code == 0
    assert token_id not in admin("tokens", "list").out
    assert admin("tokens", "revoke", token_id).code == 4


def test_console_script_create_server_json(admin: Admin) -> None:
    """The real console script: --json parses and carries the url and client config."""
    result = _console("servers", "create", admin.account_id, "--name", "cli console", "--json",
                      env=admin.env)  # fmt: skip
    assert result.code == 0, result.err
    answer = result.json
    assert answer["url"] == answer["client_config"]["connector_url"]
    assert "shown only now" in result.err


def test_console_script_wrong_admin_token_exits_3(admin: Admin) -> None:
    """A refused admin token exits 3 and does not echo it."""
    env = admin.env | {"STACKMCP_ADMIN_TOKEN": "smcp_adm_wrong-wrong-wrong"}
    result = _console("accounts", "list", env=env)
    assert result.code == 3
    assert "authentication failed" in result.err
    assert "smcp_adm_wrong-wrong-wrong" not in result.out + result.err


def test_console_script_add_account_from_stdin(admin: Admin) -> None:
    """accounts add through the console script reads the token piped on stdin."""
    result = _console("accounts", "add", "--name", "CLI piped", "--token-stdin", "--json",
                      env=admin.env, stdin=BETTERSTACK_TOKEN)  # fmt: skip
    assert result.code == 0, result.err
    account_id = result.json["id"]
    assert BETTERSTACK_TOKEN not in result.out + result.err
    assert _console("accounts", "remove", account_id, env=admin.env).code == 0


def test_verify_checks_the_token_with_better_stack(admin: Admin, provisioning: Any) -> None:
    """--verify: a token the sandbox refuses exits 1 naming the field; its own token works."""
    sandbox = provisioning.stack.sandbox
    argv = ("accounts", "add", "--name", "CLI verify", "--token-stdin", "--verify",
            "--base-url", sandbox.base_url)  # fmt: skip
    refused = admin(*argv, stdin=BETTERSTACK_TOKEN)
    assert refused.code == 1
    assert "betterstack_token" in refused.err
    assert BETTERSTACK_TOKEN not in refused.out + refused.err
    accepted = admin(*argv, "--json", stdin=sandbox.token)
    assert accepted.code == 0, accepted.err
    assert sandbox.token not in accepted.out + accepted.err
    assert admin("accounts", "remove", accepted.json["id"]).code == 0
