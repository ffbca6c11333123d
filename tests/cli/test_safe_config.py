"""``stackmcp servers`` and ``stackmcp catalog`` with the grant's policy keys: the request each
flag sends (against ``httpx.MockTransport``), then set and shown against the real provisioning
service, then the catalogue preview through :func:`~stackmcp.contracts.policy.expose`."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.cli.__main__ import _parser, main
from stackmcp.cli.admin import run_admin
from stackmcp.cli.catalog import run_catalog
from stackmcp.contracts.grants import Grant, Pin
from stackmcp.contracts.policy import expose
from tests.cli.test_admin_commands import Admin, Result

TOOLS = default_catalog().tools


def _sent(argv: list[str], answer: dict[str, Any] | None = None) -> tuple[Result, dict[str, Any]]:
    """Run an admin command against a mock API; return its result and the JSON body sent."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=answer or {"id": "srv_1", "url": "u"})

    out, err = io.StringIO(), io.StringIO()
    code = run_admin(
        _parser().parse_args(argv),
        out=out,
        err=err,
        environ={"STACKMCP_ADMIN_URL": "http://admin.test", "STACKMCP_ADMIN_TOKEN": "smcp_adm_t"},
        transport=httpx.MockTransport(handler),
    )
    return Result(code, out.getvalue(), err.getvalue()), (bodies[0] if bodies else {})


# Requests ----------------------------------------------------------------------------------


def test_create_sends_every_policy_flag() -> None:
    result, body = _sent(
        [
            "servers", "create", "acc_1", "--name", "safe", "--methods", "read,write",
            "--exclude-tags", "destructive, notifies", "--exclude-tools", "a_tool",
            "--confirm", "writes", "--budget", "write=10/h", "--budget", "resolve = 3/d",
            "--pin", "incident_id=7,8", "--pin", "monitor_id=3", "--reveal-secrets",
            "--no-provenance",
        ]
    )  # fmt: skip
    assert result.code == 0, result.err
    assert body["config"] == {
        "methods": ["read", "write"],
        "exclude_tags": ["destructive", "notifies"],
        "exclude_tools": ["a_tool"],
        "confirm": "writes",
        "budgets": {"write": "10/h", "resolve": "3/d"},
        "pin": {"incident_id": ["7", "8"], "monitor_id": ["3"]},
        "reveal_secrets": True,
        "provenance": False,
    }


def test_update_sends_only_the_policy_it_changes() -> None:
    _, body = _sent(["servers", "update", "acc_1", "srv_1", "--confirm", "none", "--provenance"])
    assert body == {"config": {"confirm": "none", "provenance": True}}
    _, body = _sent(["servers", "update", "acc_1", "srv_1", "--no-budgets", "--no-pin"])
    assert body == {"config": {"budgets": {}, "pin": {}}}
    _, body = _sent(["servers", "update", "acc_1", "srv_1", "--exclude-tags", ""])
    assert body == {"config": {"exclude_tags": []}}


@pytest.mark.parametrize(
    "argv",
    [
        ["--budget", "write"],
        ["--budget", "=3/h"],
        ["--pin", "incident_id="],
        ["--confirm", "always"],
        ["--budget", "write=1/h", "--no-budgets"],
    ],
)
def test_malformed_flags_exit_2_before_any_request(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["servers", "update", "acc_1", "srv_1", *argv])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err


def test_a_target_given_twice_is_a_usage_error() -> None:
    result, body = _sent(
        ["servers", "create", "acc_1", "--name", "n", "--budget", "write=1/h", "--budget",
         "write=2/h"]
    )  # fmt: skip
    assert result.code == 2
    assert "--budget write" in result.err
    assert body == {}


def test_show_prints_the_policy_and_the_withheld_tools() -> None:
    server = {
        "id": "srv_1",
        "config": {
            "methods": ["write"],
            "tags": [],
            "require_api_token_auth": False,
            "exclude_tags": ["destructive"],
            "exclude_tools": [],
            "confirm": "writes",
            "budgets": {"write": "10/h", "resolve": "3/d"},
            "pin": {"incident_id": ["7", "8"]},
            "reveal_secrets": False,
            "provenance": True,
        },
        "withheld": {"delete_x": "excluded by tag 'destructive' (exclude_tags)"},
    }
    result, _ = _sent(["servers", "update", "acc_1", "srv_1", "--confirm", "writes"], server)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "excluded tags:      destructive" in lines
    assert "confirm:            writes" in lines
    assert "budgets:            write=10/h, resolve=3/d" in lines
    assert "pinned:             incident_id=7,8" in lines
    assert "secrets in results: redacted" in lines
    assert "timeline note:      yes" in lines
    assert "withheld tools (1):" in lines
    assert "  delete_x  excluded by tag 'destructive' (exclude_tags)" in lines


# Against provisioning ----------------------------------------------------------------------


@pytest.fixture
def admin(
    provisioning: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Admin:
    """In-process admin commands bound to the running provisioning service."""
    return Admin(
        provisioning.url, provisioning.admin_token, provisioning.account_id, monkeypatch, capsys
    )


@pytest.mark.integration
def test_flags_set_and_show_every_key(admin: Admin) -> None:
    """Create with every flag, then show, list and update print what the API stored."""
    created = admin.create_server(
        "--name", "cli safe", "--methods", "read,write", "--tags", "incidents",
        "--exclude-tags", "destructive", "--confirm", "destructive", "--budget", "write=10/h",
        "--budget", "better_stack_incidents_acknowledge=2/30m", "--pin", "incident_id=7",
        "--reveal-secrets", "--no-provenance",
    )  # fmt: skip
    config = created["config"]
    assert config["exclude_tags"] == ["destructive"]
    assert config["confirm"] == "destructive"
    assert config["budgets"] == {"write": "10/h", "better_stack_incidents_acknowledge": "2/30m"}
    assert config["pin"] == {"incident_id": ["7"]}
    assert (config["reveal_secrets"], config["provenance"]) == (True, False)
    assert "create_a_better_stack_incident" in created["withheld"]

    shown = admin("servers", "show", admin.account_id, created["id"])
    assert shown.code == 0, shown.err
    assert "budgets:            write=10/h, better_stack_incidents_acknowledge=2/30m" in shown.out
    assert "pinned:             incident_id=7" in shown.out
    assert "secrets in results: revealed" in shown.out
    assert "better_stack_incidents_resolve" in shown.out  # withheld, with why
    assert "excluded by tag 'destructive'" in shown.out

    listed = admin("servers", "list", admin.account_id)
    row = next(line for line in listed.out.splitlines() if line.startswith(created["id"]))
    for cell in ("destructive", "write=10/h;better_stack_incidents_acknowledge=2/30m",
                 "incident_id=7", "revealed"):  # fmt: skip
        assert cell in row, row

    updated = admin(
        "servers", "update", admin.account_id, created["id"], "--json", "--no-budgets",
        "--no-pin", "--exclude-tags", "", "--confirm", "none", "--no-reveal-secrets",
        "--provenance",
    )  # fmt: skip
    assert updated.code == 0, updated.err
    config = updated.json["config"]
    assert (config["budgets"], config["pin"], config["exclude_tags"]) == ({}, {}, [])
    assert (config["confirm"], config["reveal_secrets"], config["provenance"]) == (
        "none", False, True,
    )  # fmt: skip
    assert config["methods"] == ["read", "write"]


@pytest.mark.integration
def test_refusals_name_the_field(admin: Admin) -> None:
    """A budget the API cannot read exits 1 naming ``config.budgets.<target>``."""
    result = admin(
        "servers", "create", admin.account_id, "--name", "bad", "--budget", "resolve=3 a day",
        "--pin", "nope_id=1",
    )  # fmt: skip
    assert result.code == 1
    assert '  config.budgets.resolve: must look like "3/h"' in result.err
    assert "  config.pin.nope_id: no tool takes this id parameter" in result.err


# The catalogue preview ---------------------------------------------------------------------


def _catalog(*argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = run_catalog(_parser().parse_args(["catalog", *argv]), out, err)
    return Result(code, out.getvalue(), err.getvalue())


def test_catalog_lists_what_expose_exposes() -> None:
    done = _catalog(
        "--methods", "write", "--tags", "incidents", "--exclude-tags", "destructive",
        "--pin", "incident_id=7", "--format", "json",
    )  # fmt: skip
    assert done.code == 0, done.err
    grant = Grant(
        server_id="s",
        account_id="a",
        methods=("write",),
        tags=("incidents",),
        exclude_tags=("destructive",),
        pin=(Pin(param="incident_id", values=("7",)),),
    )
    exposure = expose(TOOLS, grant)
    assert [t["name"] for t in json.loads(done.out)] == [t.name for t in exposure.tools]
    for name in exposure.withheld:
        assert name in done.err
    assert "excluded by tag 'destructive'" in done.err


def test_catalog_refuses_unknown_exclusions_and_pins() -> None:
    done = _catalog("--exclude-tags", "nope", "--pin", "foo_id=1")
    assert done.code == 2
    assert "--exclude-tags: unknown tags: nope" in done.err
    assert "--pin foo_id: no tool takes this id parameter" in done.err


def test_catalog_exits_1_when_everything_is_withheld() -> None:
    done = _catalog("--methods", "delete", "--exclude-tags", "destructive")
    assert done.code == 1
    assert "every tool matching methods delete" in done.err
    assert "delete_a_better_stack_incident_by_id" in done.err
