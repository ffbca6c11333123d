"""``config.tool_exposure`` through the admin API on the real stack: ``all`` by default,
``discovery`` set, shown, changed and audited; anything else refused naming the allowed values."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.provisioning.audit import admin_changes
from tests.support.provisioning import Provisioning

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def admin(provisioning: Provisioning) -> Iterator[httpx.Client]:
    with provisioning.client() as client:
        yield client


@pytest.fixture
def servers(provisioning: Provisioning) -> str:
    return f"/integrated-account/{provisioning.account_id}/mcp"


def _create(admin: httpx.Client, servers: str, config: dict[str, Any]) -> httpx.Response:
    return admin.post(servers, json={"name": f"exp-{secrets.token_hex(4)}", "config": config})


def test_all_by_default_discovery_when_asked(admin: httpx.Client, servers: str) -> None:
    plain = _create(admin, servers, {"methods": ["read"], "tags": ["incidents"]})
    assert plain.status_code == 201, plain.text
    assert plain.json()["config"]["tool_exposure"] == "all"
    found = _create(admin, servers, {"methods": ["read"], "tool_exposure": "discovery"})
    assert found.status_code == 201, found.text
    created = found.json()
    assert created["config"]["tool_exposure"] == "discovery"
    assert created["tool_count"] > 3  # the tools it reaches, not the three meta-tools
    path = f"{servers}/{created['id']}"
    assert admin.get(path).json()["config"]["tool_exposure"] == "discovery"
    listed = admin.get(servers).json()["items"]
    assert next(s for s in listed if s["id"] == created["id"])["config"]["tool_exposure"] == (
        "discovery"
    )


def test_patch_switches_it_and_the_change_is_audited(
    admin: httpx.Client, servers: str, provisioning: Provisioning
) -> None:
    created = _create(admin, servers, {"methods": ["read"]}).json()
    path = f"{servers}/{created['id']}"
    answer = admin.patch(path, json={"config": {"tool_exposure": "discovery"}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["config"] == {**created["config"], "tool_exposure": "discovery"}
    answer = admin.patch(path, json={"config": {"confirm": "writes"}})
    assert answer.json()["config"]["tool_exposure"] == "discovery"  # absent: unchanged
    stack = provisioning.stack
    changes = [
        c.changes
        for _, c, _ in admin_changes(stack.nats_url, stack.subjects)
        if c.server_id == created["id"] and c.action == "mcp_server.updated"
    ]
    assert changes == [{"tool_exposure": "discovery"}, {"confirm": "writes"}]


@pytest.mark.parametrize("value", ["meta", "Discovery", "", 3, None, ["all"]])
def test_other_values_are_refused_naming_the_allowed_ones(
    admin: httpx.Client, servers: str, value: object
) -> None:
    answer = _create(admin, servers, {"methods": ["read"], "tool_exposure": value})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert "config.tool_exposure" in error["fields"], error
    if isinstance(value, str):
        assert "all, discovery" in " ".join(error["fields"]["config.tool_exposure"])
