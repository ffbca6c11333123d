"""The provisioning admin REST API over real HTTP, on the real stack (NATS, Valkey, worker, sandbox).

Every refusal is checked for its exact status, stable ``code``, the ``fields`` naming the
offending field, and a message naming the bad value wherever it is safe to repeat; secrets (server URL tokens, API tokens, the
admin token, Better Stack tokens) are checked never to be echoed, listed, stored or logged.

The ``provisioning`` service is shared by the session: each test creates its own accounts,
servers and tokens, and only ever looks for the ids it created.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from jsonschema import Draft202012Validator

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.errors import ErrorCode
from stackmcp.contracts.filters import filter_tools
from tests.support.provisioning import Provisioning

pytestmark = pytest.mark.integration

UNKNOWN_ACCOUNT = "acc_0000000000000000"
UNKNOWN_SERVER = "srv_0000000000000000"
UNKNOWN_API_TOKEN = "apt_0000000000000000"
CONTRACT_PATHS = {
    "/integrated-account": {"get", "post"},
    "/integrated-account/{account_id}": {"get", "delete"},
    "/integrated-account/{account_id}/mcp": {"get", "post"},
    "/integrated-account/{account_id}/mcp/{server_id}": {"get", "patch", "delete"},
    "/integrated-account/{account_id}/mcp/{server_id}/rotate": {"post"},
    "/api-token": {"get", "post"},
    "/api-token/{token_id}": {"delete"},
    "/admin-token": {"get", "post"},
    "/admin-token/{token_id}": {"delete"},
    "/log": {"get"},
    "/status": {"get"},
}
DEFAULT_CONFIG: dict[str, Any] = {
    "methods": ["read"],
    "tags": [],
    "require_api_token_auth": False,
    "exclude_tags": [],
    "exclude_tools": [],
    "confirm": "none",
    "budgets": {},
    "pin": {},
    "reveal_secrets": False,
    "provenance": True,
    "tool_exposure": "all",
}
"""The ``config`` of a server created without one."""


# Helpers -----------------------------------------------------------------------------------


def _unique(label: str) -> str:
    return f"{label}-{secrets.token_hex(4)}"


def _error(answer: httpx.Response, status: int, code: ErrorCode) -> dict[str, Any]:
    """Assert an error answer of the contract's shape; return its ``error`` object."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code.value, error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    return error


def _field_error(answer: httpx.Response, field: str, *, in_message: bool = True) -> str:
    """Assert a 422 naming ``field`` (in ``fields`` and, unless told otherwise, in the summary
    message); return that field's messages joined."""
    error = _error(answer, 422, ErrorCode.INVALID_ARGUMENT)
    fields = error.get("fields")
    assert isinstance(fields, dict), error
    assert field in fields, error
    if in_message:
        assert field in error["message"], error
    messages = fields[field]
    assert isinstance(messages, list), error
    assert messages, error
    assert all(isinstance(m, str) and m for m in messages), error
    return " | ".join(messages)


def _account_body(provisioning: Provisioning, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "integration": "betterstack",
        "name": _unique("acct"),
        "betterstack_token": provisioning.stack.sandbox.token,
        "base_url": provisioning.stack.sandbox.base_url,
    }
    body.update(overrides)
    return body


def _server_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": _unique("srv"), "config": {"methods": ["read"]}}
    body.update(overrides)
    return body


def _in_future(seconds: float, offset_hours: int = 0) -> str:
    zone = timezone(timedelta(hours=offset_hours))
    return (datetime.now(UTC) + timedelta(seconds=seconds)).astimezone(zone).isoformat()


def _expected_tool_count(methods: list[str], tags: list[str]) -> int:
    return len(filter_tools(default_catalog().tools, methods, tags))


def _account_ids(admin: httpx.Client) -> set[str]:
    answer = admin.get("/integrated-account")
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()["items"]}


# Fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin(provisioning: Provisioning) -> Iterator[httpx.Client]:
    """An admin-authenticated client."""
    with provisioning.client() as client:
        yield client


@pytest.fixture(scope="module")
def anonymous(provisioning: Provisioning) -> Iterator[httpx.Client]:
    """A client without any Authorization header."""
    with httpx.Client(base_url=provisioning.url, timeout=15) as client:
        yield client


@pytest.fixture(scope="module")
def account(provisioning: Provisioning, admin: httpx.Client) -> Iterator[str]:
    """An account of this module's own (on the sandbox), removed afterwards."""
    answer = admin.post("/integrated-account", json=_account_body(provisioning))
    assert answer.status_code == 201, answer.text
    account_id: str = answer.json()["id"]
    yield account_id
    admin.delete(f"/integrated-account/{account_id}")


@pytest.fixture
def server(admin: httpx.Client, account: str) -> dict[str, Any]:
    """A fresh MCP server of :func:`account` (the create answer, URL included)."""
    answer = admin.post(f"/integrated-account/{account}/mcp", json=_server_body())
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


# Admin authentication ----------------------------------------------------------------------

ROUTES = [
    ("GET", "/integrated-account"),
    ("POST", "/integrated-account"),
    ("GET", "/integrated-account/{account}"),
    ("DELETE", "/integrated-account/{account}"),
    ("GET", "/integrated-account/{account}/mcp"),
    ("POST", "/integrated-account/{account}/mcp"),
    ("GET", "/integrated-account/{account}/mcp/{server}"),
    ("PATCH", "/integrated-account/{account}/mcp/{server}"),
    ("DELETE", "/integrated-account/{account}/mcp/{server}"),
    ("POST", "/integrated-account/{account}/mcp/{server}/rotate"),
    ("GET", "/api-token"),
    ("POST", "/api-token"),
    ("DELETE", "/api-token/{token}"),
    ("GET", "/status"),
]


def _valid_body(method: str, path: str, provisioning: Provisioning) -> dict[str, Any] | None:
    """A body the route would accept, so that only the credentials can be refused."""
    if method == "POST" and path == "/integrated-account":
        return _account_body(provisioning)
    if method == "POST" and path.endswith("/mcp"):
        return _server_body()
    if method == "PATCH":
        return {"name": _unique("renamed")}
    if method == "POST" and path == "/api-token":
        return {"name": _unique("tok")}
    return None


@pytest.mark.parametrize(
    "scheme",
    ["none", "wrong-bearer", "basic", "right-token-other-scheme", "bare-token", "bearer-empty"],
)
def test_every_admin_route_refuses_missing_or_wrong_credentials(
    provisioning: Provisioning,
    admin: httpx.Client,
    anonymous: httpx.Client,
    account: str,
    server: dict[str, Any],
    scheme: str,
) -> None:
    token_answer = admin.post("/api-token", json={"name": _unique("authcheck")})
    assert token_answer.status_code == 201, token_answer.text
    token_id = token_answer.json()["id"]
    wrong = f"smcp_adm_{secrets.token_urlsafe(32)}"
    headers = {
        "none": {},
        "wrong-bearer": {"Authorization": f"Bearer {wrong}"},
        "basic": {"Authorization": "Basic YWRtaW46c2VjcmV0LXBhc3N3b3Jk"},
        "right-token-other-scheme": {"Authorization": f"Token {provisioning.admin_token}"},
        "bare-token": {"Authorization": provisioning.admin_token},
        "bearer-empty": {"Authorization": "Bearer"},
    }[scheme]
    sent = {
        "wrong-bearer": [wrong],
        "basic": ["YWRtaW46c2VjcmV0LXBhc3N3b3Jk"],
        "right-token-other-scheme": [provisioning.admin_token],
        "bare-token": [provisioning.admin_token],
    }.get(scheme, [])
    for method, template in ROUTES:
        path = template.format(account=account, server=server["id"], token=token_id)
        answer = anonymous.request(
            method, path, json=_valid_body(method, template, provisioning), headers=headers
        )
        error = _error(answer, 401, ErrorCode.UNAUTHENTICATED)
        assert "fields" not in error, (method, path, error)
        assert answer.headers["www-authenticate"].startswith("Bearer"), (method, path)
        for value in sent:  # the credential sent is never echoed back
            assert value not in answer.text, (method, path)
            assert all(value not in v for v in answer.headers.values()), (method, path)

    # Nothing was done by the refused requests: account, server and API token are all intact.
    assert admin.get(f"/integrated-account/{account}").status_code == 200
    assert admin.get(f"/integrated-account/{account}/mcp/{server['id']}").status_code == 200
    listed = admin.get("/api-token").json()["items"]
    assert token_id in {item["id"] for item in listed}
    assert admin.delete(f"/api-token/{token_id}").status_code == 204


def test_bearer_scheme_is_case_insensitive(
    provisioning: Provisioning, anonymous: httpx.Client
) -> None:
    answer = anonymous.get(
        "/api-token", headers={"Authorization": f"bearer {provisioning.admin_token}"}
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json"])
def test_operational_routes_need_no_authentication(anonymous: httpx.Client, path: str) -> None:
    answer = anonymous.get(path)
    assert answer.status_code == 200, answer.text
    assert isinstance(answer.json(), dict)


def test_unknown_route_is_a_not_found_error_body(admin: httpx.Client) -> None:
    error = _error(admin.get("/no-such-route"), 404, ErrorCode.NOT_FOUND)
    assert "fields" not in error


# Body decoding -----------------------------------------------------------------------------


def test_malformed_json_is_400_without_fields(admin: httpx.Client) -> None:
    answer = admin.post(
        "/api-token", content=b'{"name": "ci",', headers={"Content-Type": "application/json"}
    )
    error = _error(answer, 400, ErrorCode.INVALID_ARGUMENT)
    assert "fields" not in error, error
    assert "JSON" in error["message"], error


@pytest.mark.parametrize("payload", [[{"name": "ci"}], "ci", 5, None])
def test_body_not_a_json_object_is_400(admin: httpx.Client, payload: object) -> None:
    answer = admin.post("/api-token", content=json.dumps(payload).encode())
    error = _error(answer, 400, ErrorCode.INVALID_ARGUMENT)
    assert "fields" not in error, error
    assert "object" in error["message"], error


def test_body_over_the_limit_is_413_with_the_error_body(admin: httpx.Client) -> None:
    before = {item["id"] for item in admin.get("/api-token").json()["items"]}
    payload = json.dumps({"name": "x" * 100_000}).encode()
    assert len(payload) > 65_536
    answer = admin.post("/api-token", content=payload)
    assert answer.status_code == 413, answer.text[:500]
    body = answer.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] in {c.value for c in ErrorCode}, body
    assert "too large" in body["error"]["message"], body
    assert {item["id"] for item in admin.get("/api-token").json()["items"]} == before


def test_unknown_field_is_named(admin: httpx.Client, account: str) -> None:
    body = _server_body(expire_at=_in_future(300))
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    message = _field_error(answer, "expire_at")
    assert "not a known field" in message


def test_unknown_nested_field_is_named_with_its_path(admin: httpx.Client, account: str) -> None:
    body = _server_body(config={"methods": ["read"], "tag": ["incidents"]})
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    _field_error(answer, "config.tag")


def test_wrong_type_is_named(admin: httpx.Client) -> None:
    message = _field_error(admin.post("/api-token", json={"name": 5}), "name")
    assert "str" in message
    assert "int" in message


def test_wrong_item_type_is_named_with_its_index(admin: httpx.Client, account: str) -> None:
    body = _server_body(config={"methods": ["read", 5]})
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    message = _field_error(answer, "config.methods[1]")
    assert "str" in message


def test_missing_required_field_is_named(admin: httpx.Client) -> None:
    message = _field_error(admin.post("/api-token", json={}), "name")
    assert "required" in message


def test_nested_wrong_type_is_named_with_its_path(admin: httpx.Client, account: str) -> None:
    body = _server_body(config={"methods": "read"})
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    message = _field_error(answer, "config.methods")
    assert "array" in message


# Integrated accounts -----------------------------------------------------------------------


def test_integration_must_be_betterstack(provisioning: Provisioning, admin: httpx.Client) -> None:
    body = _account_body(provisioning, integration="datadog")
    message = _field_error(admin.post("/integrated-account", json=body), "integration")
    assert "betterstack" in message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("n" * 101, "101"),
        ("bad\x07name", "control"),
        ("line\nbreak", "control"),
    ],
)
def test_account_name_is_checked(
    provisioning: Provisioning, admin: httpx.Client, name: str, expected: str
) -> None:
    body = _account_body(provisioning, name=name)
    message = _field_error(admin.post("/integrated-account", json=body), "name")
    assert expected in message


def test_account_name_of_100_characters_is_accepted_and_trimmed(
    provisioning: Provisioning, admin: httpx.Client
) -> None:
    name = secrets.token_hex(50)
    answer = admin.post("/integrated-account", json=_account_body(provisioning, name=f"  {name} "))
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == name
    assert admin.delete(f"/integrated-account/{answer.json()['id']}").status_code == 204


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("two words", "spaces"),
        ("tab\tinside", "spaces"),
        ("t" * 513, "at most 512 characters (got 513)"),
    ],
)
def test_betterstack_token_is_checked(
    provisioning: Provisioning, admin: httpx.Client, token: str, expected: str
) -> None:
    body = _account_body(provisioning, betterstack_token=token)
    answer = admin.post("/integrated-account", json=body)
    message = _field_error(answer, "betterstack_token")
    assert expected in message
    if token.strip():
        assert token not in answer.text  # a credential, even a malformed one, is not echoed


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://x",
        "not a url",
        "http://user:pw@host",
        "http://:pw@host",
        "http://@host",
        "https://",
        "http://h:port/",
        "http://h:99999/",
        "http://ho st",
        "http://ho\tst",
        "http://h/?q=1",
        "http://h/#frag",
    ],
)
def test_base_url_must_be_http(
    provisioning: Provisioning, admin: httpx.Client, base_url: str
) -> None:
    body = _account_body(provisioning, base_url=base_url)
    answer = admin.post("/integrated-account", json=body)
    message = _field_error(answer, "base_url")
    assert "http(s) URL" in message
    assert ":pw@" not in answer.text


def test_account_defaults_and_counts(provisioning: Provisioning, admin: httpx.Client) -> None:
    body = {
        "integration": "betterstack",
        "name": _unique("defaults"),
        "betterstack_token": f"bs-{secrets.token_hex(8)}",
    }
    answer = admin.post("/integrated-account", json=body)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["id"].startswith("acc_")
    assert created["base_url"] == "https://uptime.betterstack.com"
    assert created["team_name"] is None
    assert created["mcp_server_count"] == 0
    assert set(created) == {
        "id", "integration", "name", "base_url", "team_name", "created_at", "mcp_server_count"
    }  # fmt: skip
    admin.delete(f"/integrated-account/{created['id']}")


def test_betterstack_token_never_appears_in_answers(
    provisioning: Provisioning, admin: httpx.Client
) -> None:
    token = f"bs-secret-{secrets.token_hex(12)}"
    answer = admin.post(
        "/integrated-account", json=_account_body(provisioning, betterstack_token=token)
    )
    assert answer.status_code == 201, answer.text
    account_id = answer.json()["id"]
    try:
        got = admin.get(f"/integrated-account/{account_id}")
        listed = admin.get("/integrated-account")
        assert got.status_code == 200
        assert listed.status_code == 200
        assert account_id in {item["id"] for item in listed.json()["items"]}
        for text in (answer.text, got.text, listed.text):
            assert token not in text
            assert "betterstack_token" not in text
            assert "sealed" not in text
    finally:
        admin.delete(f"/integrated-account/{account_id}")


def test_verify_with_a_wrong_token_refuses_and_creates_nothing(
    provisioning: Provisioning, admin: httpx.Client
) -> None:
    name = _unique("verify-wrong")
    wrong = f"wrong-{secrets.token_hex(12)}"
    before = _account_ids(admin)
    body = _account_body(provisioning, name=name, betterstack_token=wrong, verify=True)
    answer = admin.post("/integrated-account", json=body)
    # The worker's refusal: its summary is "Better Stack refused the token".
    message = _field_error(answer, "betterstack_token", in_message=False)
    assert "401" in message or "403" in message
    assert wrong not in answer.text
    listed = admin.get("/integrated-account").json()["items"]
    assert name not in {item["name"] for item in listed}
    # Other tests may connect accounts meanwhile, but none carries this test's name.
    assert all(item["name"] != name for item in listed if item["id"] not in before)


def test_verify_with_the_right_token_connects(
    provisioning: Provisioning, admin: httpx.Client
) -> None:
    body = _account_body(provisioning, verify=True)
    answer = admin.post("/integrated-account", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == body["name"]
    account_id = answer.json()["id"]
    assert admin.get(f"/integrated-account/{account_id}").status_code == 200
    assert admin.delete(f"/integrated-account/{account_id}").status_code == 204
    _error(admin.get(f"/integrated-account/{account_id}"), 404, ErrorCode.NOT_FOUND)


@pytest.mark.parametrize("account_id", [UNKNOWN_ACCOUNT, "..%2Fx", "not-an-id"])
def test_unknown_account_is_404_everywhere(admin: httpx.Client, account_id: str) -> None:
    answers = {
        "GET": admin.get(f"/integrated-account/{account_id}"),
        "DELETE": admin.delete(f"/integrated-account/{account_id}"),
        "POST mcp": admin.post(f"/integrated-account/{account_id}/mcp", json=_server_body()),
        "GET mcp": admin.get(f"/integrated-account/{account_id}/mcp"),
    }
    for label, answer in answers.items():
        error = _error(answer, 404, ErrorCode.NOT_FOUND)
        assert "fields" not in error, label
        if account_id == UNKNOWN_ACCOUNT:  # reaches the handler, which names the id
            assert UNKNOWN_ACCOUNT in error["message"], (label, error)


def test_deleting_an_account_revokes_its_servers(
    provisioning: Provisioning, admin: httpx.Client
) -> None:
    answer = admin.post("/integrated-account", json=_account_body(provisioning))
    account_id = answer.json()["id"]
    created = admin.post(f"/integrated-account/{account_id}/mcp", json=_server_body())
    assert created.status_code == 201, created.text
    assert admin.get(f"/integrated-account/{account_id}").json()["mcp_server_count"] == 1
    assert admin.delete(f"/integrated-account/{account_id}").status_code == 204
    _error(admin.get(f"/integrated-account/{account_id}"), 404, ErrorCode.NOT_FOUND)
    _error(
        admin.get(f"/integrated-account/{account_id}/mcp/{created.json()['id']}"),
        404,
        ErrorCode.NOT_FOUND,
    )
    _error(admin.delete(f"/integrated-account/{account_id}"), 404, ErrorCode.NOT_FOUND)
    assert account_id not in _account_ids(admin)


# MCP servers: expiry -----------------------------------------------------------------------


def test_expires_at_without_a_zone_is_refused(admin: httpx.Client, account: str) -> None:
    naive = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()
    answer = admin.post(f"/integrated-account/{account}/mcp", json=_server_body(expires_at=naive))
    assert "time zone" in _field_error(answer, "expires_at")


@pytest.mark.parametrize("seconds", [-3600, 30])
def test_expires_at_must_be_60_seconds_ahead(
    admin: httpx.Client, account: str, seconds: int
) -> None:
    body = _server_body(expires_at=_in_future(seconds))
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    assert "60 seconds" in _field_error(answer, "expires_at")


@pytest.mark.parametrize("garbage", ["next tuesday", "", "2026-13-45T00:00:00Z"])
def test_expires_at_garbage_is_refused(admin: httpx.Client, account: str, garbage: str) -> None:
    body = _server_body(expires_at=garbage)
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    assert "ISO-8601" in _field_error(answer, "expires_at")


def test_expires_at_of_the_wrong_type_is_refused(admin: httpx.Client, account: str) -> None:
    body = _server_body(expires_at=1_900_000_000)
    _field_error(admin.post(f"/integrated-account/{account}/mcp", json=body), "expires_at")


def test_expires_at_five_minutes_ahead_is_echoed(admin: httpx.Client, account: str) -> None:
    expires = _in_future(300, offset_hours=2)
    answer = admin.post(f"/integrated-account/{account}/mcp", json=_server_body(expires_at=expires))
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert datetime.fromisoformat(created["expires_at"]) == datetime.fromisoformat(expires)
    assert created["status"] == "active"
    got = admin.get(f"/integrated-account/{account}/mcp/{created['id']}").json()
    assert datetime.fromisoformat(got["expires_at"]) == datetime.fromisoformat(expires)


# MCP servers: filter -----------------------------------------------------------------------


def test_no_tool_filter_really_is_empty_in_the_worker_catalogue() -> None:
    """The premise of :func:`test_filter_matching_no_tool_is_refused`."""
    assert _expected_tool_count(["read"], ["destructive"]) == 0
    assert _expected_tool_count(["read"], []) > 0
    assert _expected_tool_count(["write"], ["destructive"]) > 0


def test_unknown_method_is_named(admin: httpx.Client, account: str) -> None:
    body = _server_body(config={"methods": ["read", "frobnicate"]})
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    message = _field_error(answer, "config.methods")
    assert "frobnicate" in message
    assert "'read'" not in message  # only the unknown one is named as unknown


def test_unknown_tag_is_named(admin: httpx.Client, account: str) -> None:
    body = _server_body(config={"methods": ["read"], "tags": ["incidents", "no-such-tag"]})
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    message = _field_error(answer, "config.tags")
    assert "no-such-tag" in message
    assert "unknown tags: no-such-tag " in message  # incidents is known, so not listed as unknown


@pytest.mark.parametrize("methods", [[], ["  "]])
def test_empty_methods_are_refused(admin: httpx.Client, account: str, methods: list[str]) -> None:
    body = _server_body(config={"methods": methods})
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    message = _field_error(answer, "config.methods")
    assert "at least one" in message
    assert "[" not in message, "said in words, not in JSON"


def test_filter_matching_no_tool_is_refused(admin: httpx.Client, account: str) -> None:
    body = _server_body(config={"methods": ["read"], "tags": ["destructive"]})
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    message = _field_error(answer, "config")
    assert "matches no tool: no read tool carries the tag destructive" in message
    assert "[" not in message, "said in words, not in Python lists"


def test_several_problems_are_reported_at_once(admin: httpx.Client, account: str) -> None:
    body = {
        "name": "",
        "config": {"methods": ["bogus-method"], "tags": ["bogus-tag"]},
        "expires_at": "whenever",
    }
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    error = _error(answer, 422, ErrorCode.INVALID_ARGUMENT)
    assert set(error["fields"]) == {"name", "config.methods", "config.tags", "expires_at"}, error
    assert "bogus-method" in " ".join(error["fields"]["config.methods"])
    assert "bogus-tag" in " ".join(error["fields"]["config.tags"])
    for field in error["fields"]:
        assert field in error["message"]


def test_server_name_is_checked(admin: httpx.Client, account: str) -> None:
    answer = admin.post(f"/integrated-account/{account}/mcp", json=_server_body(name="x" * 101))
    assert "101" in _field_error(answer, "name")


# MCP servers: lifecycle --------------------------------------------------------------------


def test_create_answer_carries_url_and_client_config_once(
    provisioning: Provisioning, admin: httpx.Client, account: str
) -> None:
    answer = admin.post(
        f"/integrated-account/{account}/mcp",
        json={"name": "oncall triage", "config": {"methods": ["read"], "tags": ["incidents"]}},
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    url = created["url"]
    base = provisioning.stack.gateways[0]
    assert url.startswith(f"{base}/mcp/smcp_srv_"), url
    token = url.removeprefix(f"{base}/mcp/")
    assert created["id"].startswith("srv_")
    assert created["account_id"] == account
    assert created["config"] == {**DEFAULT_CONFIG, "tags": ["incidents"]}
    assert created["expires_at"] is None
    assert created["status"] == "active"
    assert created["tool_count"] == _expected_tool_count(["read"], ["incidents"])
    config = created["client_config"]
    assert config["connector_url"] == url
    assert config["claude_code"] == (
        f"claude mcp add --transport http better-stack-oncall-triage {url}"
    )
    desktop = config["claude_desktop"]["mcpServers"]["better-stack-oncall-triage"]
    assert desktop["args"][-1] == url
    assert config["client_name"] == "better-stack-oncall-triage"
    assert config["require_api_token"] is False
    assert config["reach"] == "loopback"
    assert [way["id"] for way in config["guidance"]] == [
        "claude-code",
        "claude-desktop",
        "other-clients",
    ]

    path = f"/integrated-account/{account}/mcp/{created['id']}"
    later = {
        "get": admin.get(path),
        "list": admin.get(f"/integrated-account/{account}/mcp"),
        "patch": admin.patch(path, json={"name": "renamed triage"}),
    }
    for label, reply in later.items():
        assert reply.status_code == 200, (label, reply.text)
        assert token not in reply.text, label
        assert "smcp_srv_" not in reply.text, label
        assert '"url"' not in reply.text, label
        assert "client_config" not in reply.text, label
    assert created["id"] in {item["id"] for item in later["list"].json()["items"]}
    assert later["patch"].json()["name"] == "renamed triage"
    assert admin.get(f"/integrated-account/{account}").json()["mcp_server_count"] >= 1


def test_server_defaults(admin: httpx.Client, account: str) -> None:
    answer = admin.post(f"/integrated-account/{account}/mcp", json={"name": _unique("plain")})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["config"] == DEFAULT_CONFIG
    assert created["withheld"] == {}
    assert created["expires_at"] is None
    assert created["tool_count"] == _expected_tool_count(["read"], [])


def test_require_api_token_auth_changes_client_config(admin: httpx.Client, account: str) -> None:
    body = _server_body(config={"methods": ["read"], "require_api_token_auth": True})
    answer = admin.post(f"/integrated-account/{account}/mcp", json=body)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["config"]["require_api_token_auth"] is True
    config = created["client_config"]
    url = created["url"]
    name = config["client_name"]
    # Claude Code signs in on first use, or sends the API token as x-api-key.
    assert config["claude_code"] == f"claude mcp add --transport http {name} {url}"
    assert (
        config["claude_code_header"] == f"{config['claude_code']} --header 'x-api-key: <API token>'"
    )
    entry = config["claude_desktop"]["mcpServers"][name]
    assert entry["args"][-2:] == ["--header", "x-api-key:${STACKMCP_API_TOKEN}"]
    assert entry["env"] == {"STACKMCP_API_TOKEN": "<API token>"}
    # The test gateway is on 127.0.0.1: no custom connector, a note saying why.
    assert config["custom_connector"] is False
    assert "custom-connector" not in [way["id"] for way in config["guidance"]]
    assert "only reachable from this machine" in config["notes"][0]


def test_patch_unknown_server_is_404(admin: httpx.Client, account: str) -> None:
    for server_id in (UNKNOWN_SERVER, "nope"):
        answer = admin.patch(f"/integrated-account/{account}/mcp/{server_id}", json={"name": "x"})
        error = _error(answer, 404, ErrorCode.NOT_FOUND)
        assert server_id in error["message"]


def test_patch_null_expires_at_clears_expiry(admin: httpx.Client, account: str) -> None:
    body = _server_body(expires_at=_in_future(600))
    created = admin.post(f"/integrated-account/{account}/mcp", json=body).json()
    assert created["expires_at"] is not None
    path = f"/integrated-account/{account}/mcp/{created['id']}"
    unrelated = admin.patch(path, json={"name": _unique("kept-expiry")})
    assert unrelated.status_code == 200, unrelated.text
    assert datetime.fromisoformat(unrelated.json()["expires_at"]) == datetime.fromisoformat(
        created["expires_at"]
    )  # an absent field is unchanged
    answer = admin.patch(path, json={"expires_at": None})
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_at"] is None
    assert admin.get(path).json()["expires_at"] is None


def test_patch_expires_at_is_validated(admin: httpx.Client, server: dict[str, Any]) -> None:
    path = f"/integrated-account/{server['account_id']}/mcp/{server['id']}"
    answer = admin.patch(path, json={"expires_at": _in_future(10)})
    assert "60 seconds" in _field_error(answer, "expires_at")
    assert admin.get(path).json()["expires_at"] is None


def test_patch_tags_keeps_methods_and_recounts_tools(
    admin: httpx.Client, server: dict[str, Any]
) -> None:
    assert server["config"]["methods"] == ["read"]
    assert server["tool_count"] == _expected_tool_count(["read"], [])
    path = f"/integrated-account/{server['account_id']}/mcp/{server['id']}"
    answer = admin.patch(path, json={"config": {"tags": ["incidents"]}})
    assert answer.status_code == 200, answer.text
    updated = answer.json()
    assert updated["config"] == {**DEFAULT_CONFIG, "tags": ["incidents"]}
    expected = _expected_tool_count(["read"], ["incidents"])
    assert updated["tool_count"] == expected
    assert expected != server["tool_count"]
    assert updated["name"] == server["name"]
    assert admin.get(path).json()["config"]["tags"] == ["incidents"]


def test_patch_reports_filter_problems(admin: httpx.Client, server: dict[str, Any]) -> None:
    path = f"/integrated-account/{server['account_id']}/mcp/{server['id']}"
    answer = admin.patch(path, json={"config": {"methods": ["yeet"]}})
    assert "yeet" in _field_error(answer, "config.methods")
    answer = admin.patch(path, json={"config": {"tags": ["destructive"]}})
    assert "matches no tool" in _field_error(answer, "config")
    answer = admin.patch(path, json={"expire_at": None})
    _field_error(answer, "expire_at")
    assert admin.get(path).json()["config"] == server["config"]


def test_delete_server_twice(admin: httpx.Client, server: dict[str, Any]) -> None:
    """The second DELETE is a 409 saying it was revoked already; the server stays listed as
    ``revoked`` (history), and a PATCH of it is a 409 too."""
    path = f"/integrated-account/{server['account_id']}/mcp/{server['id']}"
    first = admin.delete(path)
    assert first.status_code == 204, first.text
    assert first.content == b""
    error = _error(admin.delete(path), 409, ErrorCode.CONFLICT)
    assert "already revoked" in error["message"]
    shown = admin.get(path)
    assert shown.status_code == 200, shown.text
    assert shown.json()["status"] == "revoked"
    assert shown.json()["ended_by"] == "admin"
    error = _error(admin.patch(path, json={"name": "again"}), 409, ErrorCode.CONFLICT)
    assert error["message"] == "this MCP server was revoked; create a new one"
    listed = admin.get(f"/integrated-account/{server['account_id']}/mcp").json()["items"]
    assert {item["id"]: item["status"] for item in listed}[server["id"]] == "revoked"


def test_server_of_another_account_is_404(
    provisioning: Provisioning, admin: httpx.Client, server: dict[str, Any]
) -> None:
    other = admin.post("/integrated-account", json=_account_body(provisioning)).json()["id"]
    try:
        path = f"/integrated-account/{other}/mcp/{server['id']}"
        _error(admin.get(path), 404, ErrorCode.NOT_FOUND)
        _error(admin.patch(path, json={"name": "hijack"}), 404, ErrorCode.NOT_FOUND)
        _error(admin.delete(path), 404, ErrorCode.NOT_FOUND)
        listed = admin.get(f"/integrated-account/{other}/mcp").json()["items"]
        assert server["id"] not in {item["id"] for item in listed}
        own = admin.get(f"/integrated-account/{server['account_id']}/mcp/{server['id']}")
        assert own.status_code == 200
        assert own.json()["name"] == server["name"]
    finally:
        admin.delete(f"/integrated-account/{other}")


# API tokens --------------------------------------------------------------------------------


def test_api_token_lifecycle(admin: httpx.Client) -> None:
    name = _unique("ci")
    answer = admin.post("/api-token", json={"name": name})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert set(created) == {"id", "name", "created_at", "token"}
    assert created["token"].startswith("smcp_api_")
    assert created["id"].startswith("apt_")
    assert created["name"] == name

    listed = admin.get("/api-token")
    assert listed.status_code == 200
    assert created["token"] not in listed.text
    assert "smcp_api_" not in listed.text
    mine = [item for item in listed.json()["items"] if item["id"] == created["id"]]
    assert mine == [{"id": created["id"], "name": name, "created_at": created["created_at"]}]

    revoked = admin.delete(f"/api-token/{created['id']}")
    assert revoked.status_code == 204, revoked.text
    error = _error(admin.delete(f"/api-token/{created['id']}"), 404, ErrorCode.NOT_FOUND)
    assert created["id"] in error["message"]
    assert created["id"] not in {item["id"] for item in admin.get("/api-token").json()["items"]}


@pytest.mark.parametrize("name", ["", "  ", "t" * 101])
def test_api_token_name_is_checked(admin: httpx.Client, name: str) -> None:
    _field_error(admin.post("/api-token", json={"name": name}), "name")


@pytest.mark.parametrize("token_id", [UNKNOWN_API_TOKEN, "nope"])
def test_revoke_unknown_api_token_is_404(admin: httpx.Client, token_id: str) -> None:
    error = _error(admin.delete(f"/api-token/{token_id}"), 404, ErrorCode.NOT_FOUND)
    assert token_id in error["message"]


# OpenAPI -----------------------------------------------------------------------------------


def test_openapi_document_covers_the_contract(
    provisioning: Provisioning, anonymous: httpx.Client, admin: httpx.Client, account: str
) -> None:
    document = anonymous.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {path: set(ops) for path, ops in document["paths"].items()} == CONTRACT_PATHS
    assert anonymous.get("/schema/openapi.json").json() == document
    schemas = document["components"]["schemas"]
    for name, schema in schemas.items():
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as exc:  # pragma: no cover - the failure message names the schema
            pytest.fail(f"component schema {name} is not valid JSON Schema: {exc}")

    refs: set[str] = set()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    prefix = "#/components/schemas/"
    assert refs
    assert all(ref.startswith(prefix) and ref[len(prefix) :] in schemas for ref in refs), refs

    def validate(answer: httpx.Response, schema_name: str) -> None:
        validator = Draft202012Validator(
            {"$ref": f"{prefix}{schema_name}", "components": document["components"]}
        )
        validator.validate(answer.json())

    # Real answers match the schemas the document declares for them.
    validate(admin.get(f"/integrated-account/{account}"), "AccountView")
    validate(admin.get("/integrated-account"), "AccountList")
    created = admin.post(f"/integrated-account/{account}/mcp", json=_server_body())
    validate(created, "CreatedServerView")
    validate(admin.get(f"/integrated-account/{account}/mcp"), "ServerList")
    token = admin.post("/api-token", json={"name": _unique("schema")})
    validate(token, "CreatedApiTokenView")
    validate(admin.get("/api-token"), "ApiTokenList")
    validate(admin.get(f"/integrated-account/{UNKNOWN_ACCOUNT}"), "ErrorView")
    validate(admin.post("/api-token", json={"name": ""}), "ErrorView")
    admin.delete(f"/api-token/{token.json()['id']}")
    body = _account_body(provisioning)
    Draft202012Validator(
        {"$ref": f"{prefix}AccountCreate", "components": document["components"]}
    ).validate(body)


# At rest -----------------------------------------------------------------------------------


async def _dump_keys(redis: aioredis.Redis, prefix: str) -> tuple[int, bytes]:
    """Every key under ``prefix`` and every value in it, of any type; closes ``redis``."""
    dumped: list[Any] = []
    key_count = 0
    try:
        async for key in redis.scan_iter(match=f"{prefix}:*", count=500):
            key_count += 1
            dumped.append(key)
            kind = await redis.type(key)
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind == "string":
                dumped.append(await redis.get(key))
            elif kind == "hash":
                dumped += [*(await redis.hgetall(key)).items()]
            elif kind == "set":
                dumped += list(await redis.smembers(key))
            elif kind == "zset":
                dumped += list(await redis.zrange(key, 0, -1))
            elif kind == "list":
                dumped += list(await redis.lrange(key, 0, -1))
            elif kind == "stream":
                dumped += list(await redis.xrange(key) or [])
            elif kind != "none":  # "none": removed since SCAN listed it
                pytest.fail(f"unexpected Redis type {kind} at {key!r}")
    finally:
        await redis.aclose()
    return key_count, b"\n".join(_flatten(dumped))


def _flatten(value: Any) -> Iterator[bytes]:
    if isinstance(value, bytes):
        yield value
    elif isinstance(value, str):
        yield value.encode()
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(key)
            yield from _flatten(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _flatten(item)
    elif value is not None:
        yield str(value).encode()


async def test_no_secret_is_stored_or_logged_in_plain_text(
    provisioning: Provisioning, account: str
) -> None:
    bs_token = f"bs-at-rest-{secrets.token_hex(12)}"
    async with httpx.AsyncClient(
        base_url=provisioning.url,
        headers={"Authorization": f"Bearer {provisioning.admin_token}"},
        timeout=15,
    ) as admin:
        own = await admin.post(
            "/integrated-account", json=_account_body(provisioning, betterstack_token=bs_token)
        )
        assert own.status_code == 201, own.text
        server = await admin.post(
            f"/integrated-account/{account}/mcp",
            json=_server_body(config={"methods": ["read"], "require_api_token_auth": True}),
        )
        assert server.status_code == 201, server.text
        server_token = server.json()["url"].rsplit("/mcp/", 1)[1]
        api = await admin.post("/api-token", json={"name": _unique("at-rest")})
        assert api.status_code == 201, api.text
        api_token = api.json()["token"]

    secrets_to_find = {
        "server URL token": server_token,
        "API token": api_token,
        "admin token": provisioning.admin_token,
        "sandbox Better Stack token": provisioning.stack.sandbox.token,
        "this test's Better Stack token": bs_token,
    }
    assert server_token.startswith("smcp_srv_")
    assert api_token.startswith("smcp_api_")

    key_count, blob = await _dump_keys(provisioning.stack.redis(), provisioning.stack.prefix)
    assert key_count >= 3
    # The records really are there (so the scan looked at the right keys).
    assert own.json()["id"].encode() in blob
    assert server.json()["id"].encode() in blob
    assert api.json()["id"].encode() in blob
    for label, value in secrets_to_find.items():
        assert value.encode() not in blob, f"the {label} is stored in plain text"

    logs = {log.name: log.read_text() for log in provisioning.logs}
    assert any(name.startswith("provisioning") for name in logs), list(logs)
    # The logs are being written: provisioning logged the account this test connected.
    assert any(own.json()["id"] in text for text in logs.values()), list(logs)
    for name, text in logs.items():
        for label, value in secrets_to_find.items():
            assert value not in text, f"the {label} is in {name}"

    async with httpx.AsyncClient(
        base_url=provisioning.url,
        headers={"Authorization": f"Bearer {provisioning.admin_token}"},
        timeout=15,
    ) as admin:
        await admin.delete(f"/integrated-account/{own.json()['id']}")
        await admin.delete(f"/api-token/{api.json()['id']}")
