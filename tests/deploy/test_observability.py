"""Dashboards and alerts as code (deploy/grafana, deploy/prometheus) against what stackmcp exports.

* The alert rules pass ``promtool check rules`` and their unit tests (``promtool test rules``:
  each scenario states exactly which alerts fire). promtool comes from PATH or from Debian's
  ``prometheus`` package through ``bin/install-promtool`` (cached in ``.tools/``).
* Every dashboard query is valid PromQL: each is checked by promtool as a recording rule once the
  Grafana variables are substituted.
* Every metric and label the dashboard, the rules and the rules' unit tests name is one the
  services export: :data:`CATALOGUE` (the contract the instrumentation follows, with the
  Prometheus names) statically, and a real scrape of every service of a running system (marked
  ``e2e``) after the events that create the series.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tests.support.distributed import Distributed, distributed_shape, until
from tests.support.sandbox import RunningSandbox

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "stackmcp.json"
RULES = DEPLOY / "prometheus" / "stackmcp-alerts.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "stackmcp-alerts.test.yaml"
K8S_README = DEPLOY / "k8s" / "README.md"

# --- the catalogue -------------------------------------------------------------------------------

HISTOGRAM, COUNTER, GAUGE = "histogram", "counter", "gauge"

CATALOGUE: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    # Prometheus name: (kind, labels, services that export it)
    "mcp_server_operation_duration_seconds": (
        HISTOGRAM,
        frozenset({"mcp_method_name", "gen_ai_tool_name", "mcp_protocol_version", "error_type"}),
        frozenset({"gateway"}),
    ),
    "mcp_server_session_duration_seconds": (
        HISTOGRAM,
        frozenset({"mcp_protocol_version", "stackmcp_transport"}),
        frozenset({"gateway"}),
    ),
    "http_server_request_duration_seconds": (
        HISTOGRAM,
        frozenset({"http_request_method", "http_route", "http_response_status_code"}),
        frozenset({"gateway", "provisioning"}),
    ),
    "stackmcp_tool_calls_total": (
        COUNTER,
        frozenset({"gen_ai_tool_name", "stackmcp_outcome", "error_type"}),
        frozenset({"gateway"}),
    ),
    "stackmcp_cache_lookups_total": (
        COUNTER,
        frozenset({"stackmcp_cache", "stackmcp_result"}),
        frozenset({"gateway"}),
    ),
    "stackmcp_sessions_live": (GAUGE, frozenset({"stackmcp_transport"}), frozenset({"gateway"})),
    "stackmcp_sse_streams": (GAUGE, frozenset({"stackmcp_stream"}), frozenset({"gateway"})),
    "stackmcp_oauth_requests_total": (
        COUNTER,
        frozenset({"stackmcp_oauth_step", "stackmcp_result"}),
        frozenset({"gateway"}),
    ),
    "stackmcp_worker_request_duration_seconds": (
        HISTOGRAM,
        frozenset({"stackmcp_outcome"}),
        frozenset({"gateway"}),
    ),
    "stackmcp_worker_reroutes_total": (
        COUNTER,
        frozenset({"stackmcp_reason"}),
        frozenset({"gateway"}),
    ),
    "stackmcp_deadline_exceeded_total": (
        COUNTER,
        frozenset({"stackmcp_result"}),
        frozenset({"gateway"}),
    ),
    "stackmcp_audit_records_total": (
        COUNTER,
        frozenset({"stackmcp_result"}),
        frozenset({"gateway"}),
    ),
    "stackmcp_audit_buffered": (GAUGE, frozenset(), frozenset({"gateway"})),
    "stackmcp_upstream_request_duration_seconds": (
        HISTOGRAM,
        frozenset({"http_request_method", "http_route", "http_response_status_code", "error_type"}),
        frozenset({"worker"}),
    ),
    "stackmcp_worker_calls_in_flight": (GAUGE, frozenset(), frozenset({"worker"})),
    "stackmcp_worker_dropped_total": (
        COUNTER,
        frozenset({"stackmcp_reason"}),
        frozenset({"worker"}),
    ),
    "stackmcp_expiry_scheduled": (GAUGE, frozenset(), frozenset({"expiry"})),
    "stackmcp_expiry_purge_lag_seconds": (HISTOGRAM, frozenset(), frozenset({"expiry"})),
    "stackmcp_expiry_purged_total": (COUNTER, frozenset(), frozenset({"expiry"})),
    "stackmcp_expiry_actions_scheduled": (GAUGE, frozenset(), frozenset({"expiry"})),
    "stackmcp_expiry_actions_ended_total": (
        COUNTER,
        frozenset({"stackmcp_outcome"}),
        frozenset({"expiry"}),
    ),
    "stackmcp_admin_changes_total": (
        COUNTER,
        frozenset({"stackmcp_action"}),
        frozenset({"provisioning"}),
    ),
}
"""The services' metrics in their Prometheus form (OTel name ``a.b`` with unit ``s`` becomes
``a_b_seconds``; counters get ``_total``; attribute dots become ``_``)."""

TARGET_LABELS = frozenset({"namespace", "job", "instance", "pod", "le"})
"""Labels a scrape adds (the Kubernetes service discovery's ``namespace``, ``job``, ...) or a
histogram bucket carries; every query may use them."""

SERIES_SUFFIXES = {HISTOGRAM: ("_bucket", "_sum", "_count"), COUNTER: ("",), GAUGE: ("",)}


def series_of(name: str) -> str | None:
    """The catalogue metric a series name belongs to (``x_bucket`` -> ``x``), else ``None``."""
    for metric, (kind, _, _) in CATALOGUE.items():
        if any(name == metric + suffix for suffix in SERIES_SUFFIXES[kind]):
            return metric
    return None


# --- PromQL, as far as the check needs it ------------------------------------------------------

FUNCTIONS = frozenset(
    [
        "abs",
        "absent",
        "absent_over_time",
        "avg_over_time",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "count_over_time",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "delta",
        "deriv",
        "exp",
        "floor",
        "histogram_count",
        "histogram_fraction",
        "histogram_quantile",
        "histogram_sum",
        "holt_winters",
        "hour",
        "idelta",
        "increase",
        "irate",
        "label_join",
        "label_replace",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "max_over_time",
        "min_over_time",
        "minute",
        "month",
        "predict_linear",
        "present_over_time",
        "quantile_over_time",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sort",
        "sort_desc",
        "sqrt",
        "stddev_over_time",
        "stdvar_over_time",
        "sum_over_time",
        "time",
        "timestamp",
        "vector",
        "year",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "cos",
        "cosh",
        "deg",
        "pi",
        "rad",
        "sin",
        "sinh",
        "tan",
        "tanh",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ]
)
KEYWORDS = frozenset(
    [
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
    ]
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^{}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_IDENT = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(\s*\()?")


@functools.cache
def parse(expr: str) -> tuple[frozenset[str], frozenset[str], tuple[tuple[str, str], ...]]:
    """``(metric names, function names, (metric, label) pairs)`` a PromQL expression uses. A
    label in ``by (...)``/``on (...)`` is paired with the empty metric (it may be any)."""
    pairs: list[tuple[str, str]] = []
    for selector in _SELECTOR.finditer(expr):
        for matcher in _MATCHER.finditer(selector[2]):
            pairs.append((selector[1] or "", matcher[1]))
    text = _STRING.sub('""', expr)
    for grouping in _GROUPING.finditer(text):
        pairs.extend(("", label.strip()) for label in grouping[2].split(",") if label.strip())
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    names, functions = set(), set()
    for ident in _IDENT.finditer(text):
        if ident[1].lower() in KEYWORDS:
            continue
        (functions if ident[2] else names).add(ident[1])
    return frozenset(names), frozenset(functions), tuple(pairs)


def test_the_promql_reader_finds_metrics_functions_and_labels() -> None:
    names, functions, pairs = parse(
        'histogram_quantile(0.99, sum by (le, mcp_method_name) (rate(x_bucket{a="1", '
        'b=~"c|d"}[$__rate_interval]))) / on (namespace) group_left sum(y_total offset 5m) > 1e3 '
        'and absent(z{q!="or(w)"}) or (vector(0)) unless recorded:rule:ratio_rate5m'
    )
    assert names == {"x_bucket", "y_total", "z", "recorded:rule:ratio_rate5m"}
    assert functions == {"histogram_quantile", "sum", "rate", "absent", "vector"}
    assert set(pairs) == {
        ("x_bucket", "a"),
        ("x_bucket", "b"),
        ("z", "q"),
        ("", "le"),
        ("", "mcp_method_name"),
        ("", "namespace"),
    }


# --- what the dashboard and the rules use ------------------------------------------------------

GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$namespace": ".*",
}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def rules() -> list[dict[str, Any]]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def dashboard_queries() -> Iterator[tuple[str, str]]:
    """``(where, PromQL)`` of every panel target and query variable, variables substituted."""
    board = dashboard()
    panels = [*board["panels"], *(p for row in board["panels"] for p in row.get("panels", []))]
    for panel in panels:
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            inner = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            assert inner, query
            yield f"variable {variable['name']}", inner[1]


def substituted(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"an unknown Grafana variable in {expr}"
    return expr


def rule_queries() -> Iterator[tuple[str, str]]:
    for rule in rules():
        yield rule.get("alert") or rule["record"], rule["expr"]


def unit_test_series() -> Iterator[tuple[str, str]]:
    """The input series of the rules' unit tests, as selectors."""
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for series in case["input_series"]:
            yield "unit test input", series["series"]


def all_queries() -> list[tuple[str, str]]:
    return [
        *((where, substituted(expr)) for where, expr in dashboard_queries()),
        *rule_queries(),
        *unit_test_series(),
    ]


RECORDED = {rule["record"] for rule in rules() if "record" in rule}


def used_metrics() -> dict[str, set[str]]:
    """Every catalogue metric named anywhere -> where; recorded series resolve to their rule."""
    used: dict[str, set[str]] = {}
    for where, expr in all_queries():
        names, _, _ = parse(expr)
        for name in names - RECORDED - {"ALERTS"}:
            used.setdefault(name, set()).add(where)
    return used


def test_every_metric_used_is_one_the_services_export() -> None:
    unknown = {name: sorted(where) for name, where in used_metrics().items() if not series_of(name)}
    assert not unknown, f"not in the catalogue: {unknown}"
    for where, expr in rule_queries():
        for name in parse(expr)[0]:
            if ":" in name:
                assert name in RECORDED, f"{where}: {name} is recorded by no rule"


def test_every_label_used_belongs_to_its_metric() -> None:
    every_label = TARGET_LABELS.union(*(labels for _, labels, _ in CATALOGUE.values()))
    for where, expr in all_queries():
        for metric, label in parse(expr)[2]:
            if metric in RECORDED or metric == "ALERTS":
                continue
            if metric:
                catalogued = series_of(metric)
                assert catalogued, f"{where}: {metric}"
                allowed = CATALOGUE[catalogued][1] | TARGET_LABELS
                assert label in allowed, f"{where}: {metric} has no label {label}"
            else:
                assert label in every_label, f"{where}: no metric has a label {label}"


def test_only_known_promql_functions_are_called() -> None:
    for where, expr in all_queries():
        unknown = parse(expr)[1] - FUNCTIONS
        assert not unknown, f"{where}: {unknown}"


def test_the_dashboard_and_rules_cover_every_part_of_the_catalogue() -> None:
    """Each service's metrics are on the dashboard; the alerts use the ones the SLOs need."""
    on_board: set[str] = set()
    for _, expr in dashboard_queries():
        on_board |= {series_of(n) or n for n in parse(substituted(expr))[0]}
    assert set(CATALOGUE) - on_board == set(), "metrics missing from the dashboard"
    in_alerts = {series_of(n) for _, expr in rule_queries() for n in parse(expr)[0]}
    assert {
        "stackmcp_tool_calls_total",
        "mcp_server_operation_duration_seconds",
        "stackmcp_upstream_request_duration_seconds",
        "stackmcp_expiry_purge_lag_seconds",
        "stackmcp_worker_reroutes_total",
        "stackmcp_audit_records_total",
    } <= in_alerts


# --- the dashboard -------------------------------------------------------------------------------


def test_the_dashboard_is_importable_and_laid_out() -> None:
    board = dashboard()
    assert board["uid"] == "stackmcp"
    assert isinstance(board["schemaVersion"], int)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["allValue"] == ".*", "series without a namespace label match"
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["SLOs", "Gateway", "Worker (Better Stack API)", "Workers over NATS", "Expiry",
                    "Provisioning"]  # fmt: skip
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert 'namespace=~"$namespace"' in target["expr"], panel["title"]
    titles = " ".join(p["title"] for p in board["panels"]).lower()
    for needed in (
        "requests by method", "error ratio", "latency by method", "tool calls by outcome",
        "refusals", "sessions", "sse streams", "cache hit ratio", "audit records",
        "by route and status", "429 ratio", "upstream latency", "in flight", "dropped",
        "reroutes", "deadline exceeded", "worker request latency", "expiry schedule", "purge lag",
    ):  # fmt: skip
        assert needed in titles, needed


# --- promtool ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    """promtool from PATH, else from bin/install-promtool (Debian's package, cached)."""
    found = shutil.which("promtool")
    if found:
        return found
    result = subprocess.run(
        [str(REPO / "bin" / "install-promtool")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"bin/install-promtool failed: {result.stderr}"
    return result.stdout.strip().splitlines()[-1]


def run_promtool(promtool: str, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_alert_rules_pass_promtool(promtool: str) -> None:
    out = run_promtool(promtool, "check", "rules", RULES.name, cwd=RULES.parent)
    assert f"SUCCESS: {len(rules())} rules found" in out


def test_the_alert_rules_unit_tests_pass(promtool: str) -> None:
    out = run_promtool(promtool, "test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert "SUCCESS" in out


def test_the_unit_tests_make_every_alert_fire(promtool: str) -> None:
    """Every alert is expected to fire in some scenario (and a healthy one expects none)."""
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    expected = set(re.findall(r'alertname="(\w+)"', RULE_TESTS.read_text()))
    assert alerts == expected


def test_a_broken_rule_fails_promtool(promtool: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "groups:\n- name: x\n  rules:\n  - alert: X\n    expr: sum(rate(x[5m])\n    for: 5\n"
    )
    result = subprocess.run(
        [promtool, "check", "rules", str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Each query becomes a recording rule, so promtool's parser checks it."""
    records = [
        {"record": f"dashboard:query_{i}:check", "expr": substituted(expr)}
        for i, (_, expr) in enumerate(dashboard_queries())
    ]
    rule_file = tmp_path / "dashboard-queries.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    out = run_promtool(promtool, "check", "rules", rule_file.name, cwd=tmp_path)
    assert f"SUCCESS: {len(records)} rules found" in out


# --- the alerts and SLOs are documented ----------------------------------------------------------


def test_every_alert_is_labelled_annotated_and_documented() -> None:
    readme = K8S_README.read_text()
    for rule in rules():
        if "alert" not in rule:
            continue
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert {"summary", "description"} <= set(rule["annotations"]), name
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", "0m"))), name
        assert f"`{name}`" in readme, f"{name} is not described in deploy/k8s/README.md"


# --- a real scrape -------------------------------------------------------------------------------

SCRAPE_CALL_TIMEOUT = 2  # seconds (STACKMCP_GATEWAY_CALL_TIMEOUT): a slow upstream outlasts it
ALLOWED_ABSENT: dict[str, str] = {
    "stackmcp_worker_dropped_total": (
        "a worker drops a call only when it arrives past its deadline or was claimed by another "
        "worker: a race the end-to-end fault tests provoke, not a scrape"
    ),
}
"""Series the dashboard or the alerts use that the scenario below cannot make appear, and why."""

READ_TOOL = "list_all_better_stack_incidents"
HIDDEN_TOOL = "better_stack_incidents_resolve"  # a write: hidden from a read-only server


@pytest.fixture(scope="module")
def system(
    running_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Distributed]:
    with distributed_shape(
        tmp_path_factory.mktemp("observability"),
        running_sandbox,
        STACKMCP_GATEWAY_CALL_TIMEOUT=str(SCRAPE_CALL_TIMEOUT),
    ) as shape:
        yield shape


def scrape(url: str) -> dict[str, set[str]]:
    """``GET <url>/metrics``: series name -> the label names seen on it."""
    answer = httpx.get(f"{url}/metrics", timeout=10)
    assert answer.status_code == 200, f"{url}/metrics answered {answer.status_code}"
    assert answer.headers["content-type"].startswith("text/plain"), answer.headers
    found: dict[str, set[str]] = {}
    for line in answer.text.splitlines():
        if not line or line.startswith("#"):
            continue
        sample = re.match(r"([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s", line)
        assert sample, line
        labels = set(re.findall(r'([A-Za-z_]\w*)="', sample[2] or ""))
        found.setdefault(sample[1], set()).update(labels)
    return found


def knobs(sandbox: RunningSandbox, **values: float) -> None:
    assert sandbox.admin("PATCH", "knobs", values).status_code == 200


async def _calls(url: str) -> None:
    """On one session: an ok call, a tool error, a hidden tool (refused), an unknown tool."""
    async with (
        create_mcp_http_client() as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        await mcp.list_tools()
        assert not (await mcp.call_tool(READ_TOOL, {"resolved": False, "limit": 1})).is_error
        failed = await mcp.call_tool("get_single_better_stack_incident_by_id", {"incident_id": "0"})
        assert failed.is_error
        with contextlib.suppress(MCPError):
            assert (await mcp.call_tool(HIDDEN_TOOL, {"incident_id": "1"})).is_error
        with contextlib.suppress(MCPError):
            await mcp.call_tool("no_such_tool", {})


async def _one_call(url: str) -> bool:
    """One read on a fresh session; whether it succeeded."""
    async with (
        create_mcp_http_client() as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        return not (await mcp.call_tool(READ_TOOL, {"limit": 1})).is_error


async def _sse_call(url: str) -> None:
    """The 2024-11-05 HTTP+SSE transport: a stream open while a call runs."""
    async with sse_client(url + "/sse") as (read, write), ClientSession(read, write) as mcp:
        await mcp.initialize()
        assert not (await mcp.call_tool(READ_TOOL, {"limit": 1})).is_error


async def _pause_for_a_moment(system: Distributed) -> None:
    """Pause sandbox monitor 3 with a resume a second ahead; wait until expiry resumed it."""
    server = system.create_server(
        name="paused-briefly", config={"methods": ["read", "update"], "tags": ["monitors"]}
    )
    resume_at = datetime.now(UTC) + timedelta(seconds=1)
    arguments = {"monitor_id": 3, "paused": True, "resume_at": resume_at.isoformat()}
    async with (
        create_mcp_http_client() as http,
        streamable_http_client(system.mcp_url(server, 0), http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        paused = await mcp.call_tool("update_a_better_stack_monitor_by_id", arguments)
        assert not paused.is_error, paused.content

    def resumed() -> bool:
        return "stackmcp_expiry_actions_ended_total" in {
            name for service in system.expiry for name in scrape(service.url)
        }

    await until(resumed, 30, "a scheduled resume run by expiry")


async def _scrape_with_a_session_open(url: str, system: Distributed) -> list[dict[str, set[str]]]:
    """Scrape the gateways while a session is live on the first (``stackmcp_sessions_live``)."""
    async with (
        create_mcp_http_client() as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        return [await asyncio.to_thread(scrape, s.url) for s in system.gateways]


def _expire_a_server(system: Distributed) -> None:
    server = system.create_server(name="expires-now", config={"methods": ["read"]})
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    with system.admin() as admin:
        answer = admin.patch(system.server_path(str(server["id"])), json={"expires_at": soon})
    assert answer.status_code == 200, answer.text

    def purged() -> bool:
        return "stackmcp_expiry_purged_total" in {
            name for service in system.expiry for name in scrape(service.url)
        }

    asyncio.run(until(purged, 20, "an expired server purged"))


def _scenario(system: Distributed, sandbox: RunningSandbox) -> dict[str, list[dict[str, set[str]]]]:
    """The events that create the series, then a scrape of every service: service -> scrapes."""
    server = system.create_server(name="observed", config={"methods": ["read"]})
    url = system.mcp_url(server, 0)
    asyncio.run(_calls(url))
    asyncio.run(_sse_call(system.mcp_url(server, 1)))
    for gateway in system.gateways:  # an OAuth client registration (a public client)
        registered = httpx.post(
            f"{gateway.url}/oauth/register",
            json={"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]},
            timeout=10,
        )
        assert registered.status_code == 201, registered.text
    knobs(sandbox, rate_limit=0.01, rate_limit_burst=1)  # Better Stack answers 429
    for _ in range(3):
        asyncio.run(_one_call(url))
    knobs(sandbox, rate_limit=0, latency_ms=(SCRAPE_CALL_TIMEOUT + 1) * 1000)  # too slow
    assert not asyncio.run(_one_call(url))
    knobs(sandbox, latency_ms=0)
    _expire_a_server(system)
    asyncio.run(_pause_for_a_moment(system))
    scraped = {
        "worker": [scrape(s.url) for s in system.workers],
        "provisioning": [scrape(system.provisioning.url)],
        "expiry": [scrape(s.url) for s in system.expiry],
    }
    for worker in system.workers:  # stalled workers: attempts go silent, the call runs out of time
        worker.pause()
    try:
        assert not asyncio.run(_one_call(url))
        scraped["gateway"] = asyncio.run(_scrape_with_a_session_open(url, system))
    finally:
        for worker in system.workers:
            worker.resume()
    return scraped


@pytest.mark.e2e
def test_every_series_the_dashboard_and_alerts_use_is_in_a_real_scrape(
    system: Distributed, sandbox_api: RunningSandbox
) -> None:
    """Run the events that create each series, scrape every service's /metrics, and find every
    metric (and every label a query filters on) that the dashboard and the rules name."""
    scraped = _scenario(system, sandbox_api)
    everything: dict[str, set[str]] = {}
    for service, scrapes in scraped.items():
        for found in scrapes:
            assert "target_info" in found, service
            foreign = {
                n for n in found if series_of(n) and service not in CATALOGUE[str(series_of(n))][2]
            }
            assert not foreign, f"{service} exports series the catalogue gives another: {foreign}"
            for name, labels in found.items():
                everything.setdefault(name, set()).update(labels)
    missing = {
        name: sorted(where)
        for name, where in used_metrics().items()
        if name not in everything and series_of(name) not in ALLOWED_ABSENT
    }
    assert not missing, f"used but not exported after the scenario: {missing}"
    assert set(ALLOWED_ABSENT) <= set(CATALOGUE)
    for where, expr in all_queries():
        for metric, label in parse(expr)[2]:
            if metric in everything and label not in TARGET_LABELS:
                assert label in everything[metric], f"{where}: {metric} has no label {label}"
