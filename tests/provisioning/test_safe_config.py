"""The grant's policy keys through the admin API, on the real stack: exclusions, confirmation,
budgets, pins, secret redaction and timeline notes are set, validated, shown and audited.

What a server exposes is checked against :func:`~stackmcp.contracts.policy.expose` on the
worker's own catalogue, the rule the gateway enforces.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.grants import Grant, Pin
from stackmcp.contracts.policy import expose
from tests.provisioning.audit import admin_changes
from tests.support.provisioning import Provisioning

pytestmark = pytest.mark.integration

TOOLS = default_catalog().tools
RESOLVE = "better_stack_incidents_resolve"
SAFE = {
    "methods": ["read", "write"],
    "tags": ["incidents"],
    "exclude_tags": ["destructive"],
    "exclude_tools": ["better_stack_incidents_escalate"],
    "confirm": "writes",
    "budgets": {"write": "10/h", "resolve": "3/1d", "list_all_better_stack_incidents": "5/30m"},
    "pin": {"incident_id": ["7", 8, "7", " 9 "]},
    "reveal_secrets": True,
    "provenance": False,
}
"""Every key set, some in forms the API normalises (integers, repeats, spaces, ``3/1d``)."""


@pytest.fixture(scope="module")
def admin(provisioning: Provisioning) -> Iterator[httpx.Client]:
    """An admin-authenticated client."""
    with provisioning.client() as client:
        yield client


@pytest.fixture
def servers(provisioning: Provisioning) -> str:
    """The path of the shared account's servers."""
    return f"/integrated-account/{provisioning.account_id}/mcp"


def _name() -> str:
    return f"safe-{secrets.token_hex(4)}"


def _create(admin: httpx.Client, servers: str, config: dict[str, Any]) -> httpx.Response:
    return admin.post(servers, json={"name": _name(), "config": config})


def _created(admin: httpx.Client, servers: str, config: dict[str, Any]) -> dict[str, Any]:
    answer = _create(admin, servers, config)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _field(answer: httpx.Response, field: str) -> str:
    """Assert a 422 naming ``field``; return its messages joined."""
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_argument", error
    assert field in error["fields"], error
    assert field in error["message"], error
    return " | ".join(error["fields"][field])


def _exposure(config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """What the gateway's rule exposes and withholds for ``config`` (as the API stores it)."""
    grant = Grant(
        server_id="srv_x",
        account_id="acc_x",
        methods=tuple(config["methods"]),
        tags=tuple(config["tags"]),
        exclude_tags=tuple(config["exclude_tags"]),
        exclude_tools=tuple(config["exclude_tools"]),
        pin=tuple(Pin(param=p, values=tuple(v)) for p, v in config["pin"].items()),
    )
    exposure = expose(TOOLS, grant)
    return [t.name for t in exposure.tools], exposure.withheld


# Round trips -------------------------------------------------------------------------------


def test_every_key_round_trips_normalised(admin: httpx.Client, servers: str) -> None:
    """POST stores every key; the answer and GET show them as stored: pinned integers as
    strings without repeats, budgets in their written form; tools counted by ``expose``."""
    created = _created(admin, servers, SAFE)
    expected = {
        **SAFE,
        "require_api_token_auth": False,
        "tool_exposure": "all",
        "budgets": {"write": "10/h", "resolve": "3/d", "list_all_better_stack_incidents": "5/30m"},
        "pin": {"incident_id": ["7", "8", "9"]},
    }
    assert created["config"] == expected
    assert admin.get(f"{servers}/{created['id']}").json()["config"] == expected
    tools, withheld = _exposure(expected)
    assert created["tool_count"] == len(tools)
    assert created["withheld"] == withheld
    assert RESOLVE in withheld
    assert "destructive" in withheld[RESOLVE]
    assert "better_stack_incidents_escalate" in withheld
    assert "create_a_better_stack_incident" in withheld  # a write that names no incident_id
    listed = admin.get(servers).json()["items"]
    assert next(s for s in listed if s["id"] == created["id"])["config"] == expected


def test_patch_changes_only_the_keys_it_names(admin: httpx.Client, servers: str) -> None:
    """Absent keys stay; ``{}`` removes every budget or pin; booleans flip."""
    created = _created(admin, servers, SAFE)
    path = f"{servers}/{created['id']}"
    answer = admin.patch(path, json={"config": {"confirm": "destructive"}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["config"] == {**created["config"], "confirm": "destructive"}
    answer = admin.patch(
        path,
        json={"config": {"budgets": {}, "pin": {}, "reveal_secrets": False, "provenance": True}},
    )
    assert answer.status_code == 200, answer.text
    config = answer.json()["config"]
    assert (config["budgets"], config["pin"]) == ({}, {})
    assert (config["reveal_secrets"], config["provenance"]) == (False, True)
    assert config["exclude_tags"] == ["destructive"]
    assert "create_a_better_stack_incident" not in answer.json()["withheld"]  # the pin is gone
    assert admin.get(path).json()["config"] == config


def test_defaults_withhold_nothing(admin: httpx.Client, servers: str) -> None:
    """Without the new keys: nothing excluded, no confirmation, secrets redacted, notes on."""
    config = _created(admin, servers, {"methods": ["write"]})["config"]
    assert config["exclude_tags"] == config["exclude_tools"] == []
    assert (config["confirm"], config["budgets"], config["pin"]) == ("none", {}, {})
    assert (config["reveal_secrets"], config["provenance"]) == (False, True)


# Refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"exclude_tags": ["destructive", "nope"]}, "config.exclude_tags", ["nope", "known:"]),
        ({"exclude_tools": ["no_such_tool"]}, "config.exclude_tools", ["no_such_tool"]),
        ({"confirm": "always"}, "config.confirm", ["none, destructive, writes"]),
        ({"budgets": {RESOLVE: "3 per hour"}}, f"config.budgets.{RESOLVE}", ['"3/h"']),
        ({"budgets": {"write": "0/h"}}, "config.budgets.write", ["at least 1 call"]),
        ({"budgets": {"write": "1/8d"}}, "config.budgets.write", ["7 days"]),
        ({"budgets": {"frobnicate": "3/h"}}, "config.budgets.frobnicate", ["not a tool name"]),
        ({"pin": {"foo_id": ["1"]}}, "config.pin.foo_id", ["incident_id", "monitor_id"]),
        ({"pin": {"team_name": ["1"]}}, "config.pin.team_name", ["id parameter"]),
        ({"pin": {"incident_id": ["7", "abc"]}}, "config.pin.incident_id", ["'abc'", "digits"]),
        ({"pin": {"incident_id": [-3]}}, "config.pin.incident_id", ["'-3'"]),
        ({"pin": {"incident_id": []}}, "config.pin.incident_id", ["1 to 50"]),
        (
            {"pin": {"incident_id": [str(n) for n in range(51)]}},
            "config.pin.incident_id",
            ["1 to 50", "51"],
        ),
    ],
)
def test_bad_keys_are_refused_naming_the_field(
    admin: httpx.Client, servers: str, config: dict[str, Any], field: str, words: list[str]
) -> None:
    """Each problem is a 422 on its own field, in words that say what to write instead."""
    message = _field(_create(admin, servers, {"methods": ["read", "write"], **config}), field)
    for word in words:
        assert word in message, message


def test_unknown_exclude_tag_lists_the_known_ones(admin: httpx.Client, servers: str) -> None:
    message = _field(_create(admin, servers, {"exclude_tags": ["nope"]}), "config.exclude_tags")
    assert "destructive" in message.split("known:")[1]
    assert "incidents" in message.split("known:")[1]


@pytest.mark.parametrize(
    "config",
    [
        {"pin": {"incident_id": [True]}},
        {"pin": {"incident_id": "7"}},
        {"budgets": {"write": 3}},
        {"reveal_secrets": "yes"},
        {"exclude_tags": "destructive"},
    ],
)
def test_wrong_types_are_refused(admin: httpx.Client, servers: str, config: dict[str, Any]) -> None:
    """Types are checked before anything else: a 422 naming the key."""
    answer = _create(admin, servers, config)
    assert answer.status_code == 422, answer.text
    (field,) = answer.json()["error"]["fields"]
    assert field.startswith(f"config.{next(iter(config))}"), field


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"methods": ["delete"], "exclude_tags": ["destructive"]}, ["destructive", "withheld"]),
        (
            {"methods": ["create"], "tags": ["on_call"], "pin": {"incident_id": ["7"]}},
            ["incident_id", "withheld"],
        ),
        (
            {"methods": ["resolve"], "exclude_tools": [RESOLVE]},
            ["excluded by name", "withheld"],
        ),
    ],
)
def test_a_server_that_exposes_nothing_is_refused(
    admin: httpx.Client, servers: str, config: dict[str, Any], words: list[str]
) -> None:
    """Exclusions and pins that withhold every matching tool leave nothing: 422 on config."""
    message = _field(_create(admin, servers, config), "config")
    for word in words:
        assert word in message, message


def test_several_problems_at_once_and_nothing_created(admin: httpx.Client, servers: str) -> None:
    """Every wrong key is named in one answer; no server is created."""
    before = {s["id"] for s in admin.get(servers).json()["items"]}
    answer = _create(
        admin,
        servers,
        {
            "exclude_tools": ["nope"],
            "confirm": "maybe",
            "budgets": {"write": "x"},
            "pin": {"incident_id": ["x"]},
        },
    )
    assert answer.status_code == 422
    assert set(answer.json()["error"]["fields"]) == {
        "config.exclude_tools", "config.confirm", "config.budgets.write", "config.pin.incident_id",
    }  # fmt: skip
    assert {s["id"] for s in admin.get(servers).json()["items"]} == before


def test_a_refused_patch_changes_nothing(admin: httpx.Client, servers: str) -> None:
    """A PATCH that would withhold every tool is refused and the server keeps its config."""
    created = _created(admin, servers, {"methods": ["write"], "tags": ["incidents"]})
    path = f"{servers}/{created['id']}"
    answer = admin.patch(
        path, json={"config": {"methods": ["delete"], "exclude_tags": ["destructive"]}}
    )
    _field(answer, "config")
    assert admin.get(path).json()["config"] == created["config"]


# Audit -------------------------------------------------------------------------------------


def test_the_audit_names_every_changed_key(
    provisioning: Provisioning, admin: httpx.Client, servers: str
) -> None:
    """An update's ``changes`` carry the new keys it changed, as the API writes them."""
    created = _created(admin, servers, {"methods": ["read", "write"], "tags": ["incidents"]})
    change = {
        "exclude_tags": ["destructive"],
        "exclude_tools": ["better_stack_incidents_escalate"],
        "confirm": "writes",
        "budgets": {"resolve": "3/h"},
        "pin": {"incident_id": ["7"]},
        "reveal_secrets": True,
        "provenance": False,
    }
    answer = admin.patch(f"{servers}/{created['id']}", json={"config": change})
    assert answer.status_code == 200, answer.text
    stack = provisioning.stack
    (updated,) = [
        c
        for _, c, _ in admin_changes(stack.nats_url, stack.subjects)
        if c.server_id == created["id"] and c.action == "mcp_server.updated"
    ]
    assert updated.changes == change  # methods, tags and name did not change


def test_budget_targets_of_every_kind_are_accepted(admin: httpx.Client, servers: str) -> None:
    """A tool name, a method class and a method name are all budget targets."""
    budgets = {RESOLVE: "1/m", "read": "100/h", "acknowledge": "2/10m"}
    created = _created(admin, servers, {"methods": ["read", "write"], "budgets": budgets})
    assert created["config"]["budgets"] == budgets
