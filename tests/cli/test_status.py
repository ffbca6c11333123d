"""``stackmcp status``: flags, the request it sends and what it prints for a canned answer
(against ``httpx.MockTransport``), then the real command against the running provisioning on
the stack, healthy and with expiry stopped (exit 6).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from stackmcp.cli.__main__ import _parser
from stackmcp.cli.admin import run_admin
from stackmcp.cli.status import EXIT_UNHEALTHY
from tests.support.provisioning import ExpiryReplicas, Provisioning

STACKMCP = Path(sys.executable).with_name("stackmcp")


def _instance(ready: bool = True, **details: Any) -> dict[str, Any]:
    return {
        "instance_id": "0123abcd",
        "host": "pod-1",
        "version": "0.1.0",
        "started_at": "2026-12-01T09:00:00Z",
        "ready": ready,
        "checks": {"nats": True, "redis": ready},
        "details": details,
    }


def _service(name: str, *instances: dict[str, Any]) -> dict[str, Any]:
    return {
        "service": name,
        "replicas": len(instances),
        "ready": sum(i["ready"] for i in instances),
        "versions": sorted({i["version"] for i in instances}),
        "instances": list(instances),
    }


CALLS = {
    "since": "2026-12-01T08:55:00Z",
    "minutes": 5,
    "complete": True,
    "calls": 42,
    "per_minute": 8.4,
    "errors": 3,
    "error_rate": 0.0714,
    "p50_ms": 120.4,
    "p99_ms": 1870.0,
    "upstream_429": 2,
    "tools": [
        {"tool": "list_all_better_stack_incidents", "calls": 40, "errors": 1,
         "error_rate": 0.025, "p50_ms": 110.0, "p99_ms": 900.0, "upstream_429": 1},
        {"tool": "initialize", "calls": 2, "errors": 2, "error_rate": 1.0,
         "p50_ms": 0.4, "p99_ms": 0.5, "upstream_429": 0},
    ],
}  # fmt: skip
HEALTHY = {
    "time": "2026-12-01T09:00:00Z",
    "healthy": True,
    "problems": [],
    "services": [
        _service("gateway", _instance(), _instance()),
        _service("betterstack-worker", _instance()),
        _service("expiry", _instance(scheduled=3)),
        _service("provisioning", _instance()),
    ],
    "calls": CALLS,
    "expiry_scheduled": 3,
}
UNHEALTHY = {
    **HEALTHY,
    "healthy": False,
    "problems": ["expiry: no replica answered", "gateway 0123abcd: not ready (redis failing)"],
    "services": [
        _service("gateway", _instance(), _instance(ready=False)),
        _service("betterstack-worker", _instance()),
        _service("expiry"),
        _service("provisioning", _instance()),
    ],
    "calls": None,
    "expiry_scheduled": None,
}


def _mock(argv: list[str], answer: Any) -> tuple[int, str, str, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    out, err = io.StringIO(), io.StringIO()
    code = run_admin(
        _parser().parse_args(argv),
        out=out,
        err=err,
        environ={"STACKMCP_ADMIN_URL": "http://admin.test", "STACKMCP_ADMIN_TOKEN": "smcp_adm_x"},
        transport=httpx.MockTransport(handle),
    )
    return code, out.getvalue(), err.getvalue(), seen


@pytest.mark.parametrize("minutes", ["0", "61", "five"])
def test_minutes_out_of_range_is_a_usage_error(
    minutes: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["status", "--minutes", minutes])
    assert exit_info.value.code == 2
    assert "not a whole number from 1 to 60" in capsys.readouterr().err


def test_status_asks_for_the_minutes_and_prints_a_compact_table() -> None:
    code, out, err, seen = _mock(["status", "--minutes", "15"], HEALTHY)
    assert code == 0, err
    assert [(r.method, r.url.path) for r in seen] == [("GET", "/status")]
    assert parse_qs(urlsplit(str(seen[0].url)).query) == {"minutes": ["15"]}
    lines = out.splitlines()
    assert lines[0].split() == ["SERVICE", "REPLICAS", "READY", "VERSION", "UP", "NOTES"]
    assert lines[1].split()[:4] == ["gateway", "2", "2/2", "0.1.0"]
    assert "scheduled 3" in next(line for line in lines if line.startswith("expiry"))
    assert (
        "Tool calls, last 5 min: 42 (8.4/min), errors 3 (7.1%), p50 120ms, p99 1.9s, "
        "upstream 429s 2" in out
    )
    tool_row = next(line for line in lines if line.startswith("list_all_better_stack_incidents"))
    assert tool_row.split() == ["list_all_better_stack_incidents", "40", "1", "(2%)",
                                "110ms", "900ms", "1"]  # fmt: skip
    assert "Expiry schedule: 3 servers waiting" in out
    assert out.rstrip().endswith("No problems.")


def test_a_missing_or_unready_service_is_shown_and_exits_6() -> None:
    code, out, err, _ = _mock(["status"], UNHEALTHY)
    assert code == EXIT_UNHEALTHY == 6
    expiry = next(line for line in out.splitlines() if line.startswith("expiry"))
    assert expiry.split()[:3] == ["expiry", "0", "0/0"]
    assert expiry.rstrip().endswith("MISSING")
    assert "0123abcd not ready (redis)" in out
    assert "Tool calls: unknown (the audit trail cannot be read)" in out
    assert "  - expiry: no replica answered" in out
    assert err.strip() == "stackmcp: not healthy: 2 problems (see above)"


def test_json_prints_the_answer_as_received_and_keeps_the_exit_code() -> None:
    code, out, _, _ = _mock(["status", "--json"], UNHEALTHY)
    assert code == EXIT_UNHEALTHY
    assert json.loads(out) == UNHEALTHY


def test_an_answer_that_is_not_a_status_exits_5() -> None:
    code, _, err, _ = _mock(["status"], {"items": []})
    assert code == 5
    assert "is this the provisioning admin API (with GET /status)?" in err


# --- against the real provisioning service ----------------------------------------------------


def _run(
    provisioning: Provisioning, *argv: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKMCP_")}
    env.update(
        STACKMCP_ADMIN_URL=provisioning.url,
        STACKMCP_ADMIN_TOKEN=token or provisioning.admin_token,
    )
    return subprocess.run(
        [str(STACKMCP), "status", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.e2e
def test_status_against_the_running_system(
    provisioning: Provisioning, expiry_replicas: ExpiryReplicas
) -> None:
    """Every service answers: exit 0 and a row each; ``--json`` is the API's answer."""
    result = _run(provisioning)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line}
    assert rows["gateway"][1:3] == ["2", "2/2"]
    assert rows["betterstack-worker"][1:3] == ["1", "1/1"]
    count = expiry_replicas.count
    assert rows["expiry"][1:3] == [str(count), f"{count}/{count}"]
    assert "Tool calls, last 5 min:" in result.stdout

    answer = _run(provisioning, "--json", "--minutes", "1")
    assert answer.returncode == 0, answer.stderr
    data = json.loads(answer.stdout)
    assert data["healthy"] is True
    assert data["calls"]["minutes"] == pytest.approx(1, abs=0.05)


@pytest.mark.e2e
def test_status_exits_6_while_expiry_is_stopped(
    provisioning: Provisioning, expiry_replicas: ExpiryReplicas
) -> None:
    expiry_replicas.stop()
    try:
        result = _run(provisioning)
    finally:
        expiry_replicas.start()
    assert result.returncode == EXIT_UNHEALTHY, result.stdout + result.stderr
    assert "expiry: no replica answered" in result.stdout
    assert "not healthy" in result.stderr


@pytest.mark.e2e
def test_a_wrong_admin_token_exits_3(provisioning: Provisioning) -> None:
    result = _run(provisioning, token="smcp_adm_wrong-token-for-the-status-test")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
