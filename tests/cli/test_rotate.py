"""``stackmcp servers rotate`` and the fingerprint column of ``servers list``, in-process against
the real provisioning service (and its gateways)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from stackmcp.cli.__main__ import main
from tests.support.provisioning import Provisioning, refused_within

pytestmark = pytest.mark.integration


@dataclass
class Run:
    """Runs ``stackmcp`` in this process as the provisioning fixture's admin."""

    provisioning: Provisioning
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        for name in list(os.environ):
            if name.startswith("STACKMCP_"):
                self.monkeypatch.delenv(name)
        self.monkeypatch.setenv("STACKMCP_ADMIN_URL", self.provisioning.url)
        self.monkeypatch.setenv("STACKMCP_ADMIN_TOKEN", self.provisioning.admin_token)
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        captured = self.capsys.readouterr()
        code = exit_info.value.code
        return (code if isinstance(code, int) else 1), captured.out, captured.err


@pytest.fixture
def run(
    provisioning: Provisioning, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    return Run(provisioning, monkeypatch, capsys)


def _create(run: Run, name: str) -> dict[str, Any]:
    code, out, err = run("servers", "create", run.provisioning.account_id, "--name", name, "--json")
    assert code == 0, err
    created: dict[str, Any] = json.loads(out)
    return created


def test_rotate_prints_the_new_url_once_with_guidance_and_the_old_url_stops(run: Run) -> None:
    server = _create(run, "cli rotate")
    account = run.provisioning.account_id
    code, out, err = run("servers", "rotate", account, server["id"])
    assert code == 0, err
    urls = [line.strip() for line in out.splitlines() if "/mcp/smcp_srv_" in line.strip()[:80]]
    new = next(url for url in urls if url.startswith("http"))
    assert new != server["url"]
    assert server["url"] not in out
    assert f"New URL for MCP server {server['id']}; the old URL no longer works." in out
    assert "shown only now" in out
    assert "claude mcp add --transport http" in out
    assert new in out
    asyncio.run(refused_within(server["url"], 3.0))

    code, out, err = run("servers", "rotate", account, server["id"], "--json")
    assert code == 0, err
    assert "shown only now" in err
    assert json.loads(out)["url"] not in (server["url"], new)


def test_rotate_a_revoked_server_exits_1_saying_so(run: Run) -> None:
    server = _create(run, "cli rotate revoked")
    ids = (run.provisioning.account_id, server["id"])
    assert run("servers", "revoke", *ids)[0] == 0
    code, out, err = run("servers", "rotate", *ids)
    assert code == 1
    assert "this MCP server was revoked; create a new one" in err
    assert out == ""


def test_list_shows_id_and_fingerprint_and_create_warns_of_a_duplicate_name(run: Run) -> None:
    first = _create(run, "cli twin")
    code, out, err = run("servers", "create", run.provisioning.account_id, "--name", "cli twin")
    assert code == 0, err
    assert 'warning: another active server of this account is already named "cli twin"' in out
    code, out, err = run("servers", "list", run.provisioning.account_id, "--status", "active")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["ID", "FINGERPRINT", "NAME"]
    row = next(row for row in rows if row.startswith(first["id"]))
    assert row.split()[1] == first["fingerprint"]
