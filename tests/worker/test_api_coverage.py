"""The API description against the reference list of Better Stack endpoints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stackmcp.betterstack_worker.api import EXCLUDED, OPERATIONS

# The repository's copy of shared/reference/betterstack-endpoints.json (also used by the sandbox
# tests), so the check runs wherever the repository is cloned.
REFERENCE = Path(__file__).resolve().parents[1] / "sandbox" / "betterstack-endpoints.json"
Key = tuple[str, str, str]


def _key(http_method: str, path: str, host: str) -> Key:
    return http_method, re.sub(r"\{[^}]+\}", "{}", path), host


@pytest.fixture(scope="module")
def reference() -> list[dict[str, object]]:
    data: list[dict[str, object]] = json.loads(REFERENCE.read_text())
    return data


def _reference_keys(reference: list[dict[str, object]]) -> dict[Key, dict[str, object]]:
    keys: dict[Key, dict[str, object]] = {}
    for entry in reference:
        host = "betterstack" if "betterstack.com" in str(entry.get("host", "")) else "uptime"
        keys[_key(str(entry["method"]), str(entry["path"]), host)] = entry
    return keys


def test_every_reference_endpoint_is_a_tool_or_excluded_with_reason(
    reference: list[dict[str, object]],
) -> None:
    described = {_key(op.http_method, op.path, op.host) for op in OPERATIONS}
    excluded = {_key(e.http_method, e.path, "uptime") for e in EXCLUDED}
    assert not described & excluded
    missing = set(_reference_keys(reference)) - described - excluded
    assert not missing, sorted(missing)
    assert all(e.reason for e in EXCLUDED)


def test_every_operation_and_exclusion_names_a_reference_endpoint(
    reference: list[dict[str, object]],
) -> None:
    known = _reference_keys(reference)
    for op in OPERATIONS:
        assert _key(op.http_method, op.path, op.host) in known, (op.http_method, op.path)
    for entry in EXCLUDED:
        assert _key(entry.http_method, entry.path, "uptime") in known, entry.path


def test_guessed_endpoints_stay_marked(reference: list[dict[str, object]]) -> None:
    known = _reference_keys(reference)
    for op in OPERATIONS:
        entry = known[_key(op.http_method, op.path, op.host)]
        assert op.guess == bool(entry.get("guess")), (op.http_method, op.path)


def test_upstream_paging_matches_the_reference(reference: list[dict[str, object]]) -> None:
    known = _reference_keys(reference)
    for op in OPERATIONS:
        entry = known[_key(op.http_method, op.path, op.host)]
        upstream_paged = op.page is not None and op.page.upstream
        assert upstream_paged == bool(entry["paginated"]), (op.http_method, op.path)


def test_exclusions_point_at_a_described_operation() -> None:
    described = {f"{op.http_method} {op.path}" for op in OPERATIONS}
    for entry in EXCLUDED:
        assert entry.covered_by in described, entry.path


def test_v3_incident_endpoints_back_the_incident_tools() -> None:
    incident_ops = [op for op in OPERATIONS if op.path.startswith("/api/v3/incidents")]
    assert {op.method for op in incident_ops} >= {
        "list",
        "get",
        "create",
        "acknowledge",
        "resolve",
        "escalate",
        "reopen",
        "delete",
    }
    assert not [
        op
        for op in OPERATIONS
        if op.path.startswith("/api/v2/incidents") and "comments" not in op.path
    ]
