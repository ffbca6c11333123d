"""Named operators, the admin-change audit trail and server history, over real HTTP on the real
stack (provisioning, NATS JetStream, Valkey).

Each test works under an operator name of its own (a named admin token), so the records it looks
for in the shared audit stream are its own.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest
from redis import Redis

from stackmcp.contracts.audit import AdminChange
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.servers import SERVER_EXPIRES_FIELD, EndedGrant, McpServerRecord
from stackmcp.contracts.tokens import hash_token
from stackmcp.contracts.usage import LAST_USED_FIELD, calls_field, errors_field, hour_of
from stackmcp.provisioning.views import server_status, server_view
from tests.provisioning.audit import admin_changes
from tests.support.provisioning import Provisioning

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _name(label: str) -> str:
    return f"{label}-{secrets.token_hex(4)}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(provisioning: Provisioning) -> Iterator[httpx.Client]:
    """A client with the bootstrap admin token (operator ``admin``)."""
    with provisioning.client() as client:
        yield client


@pytest.fixture
def operator(admin: httpx.Client, provisioning: Provisioning) -> Iterator[tuple[str, str, str]]:
    """A named operator of this test: ``(name, token id, token)``; revoked afterwards."""
    name = _name("ops")
    created = admin.post("/admin-token", json={"name": name})
    assert created.status_code == 201, created.text
    body = created.json()
    yield name, body["id"], body["token"]
    admin.delete(f"/admin-token/{body['id']}")


def _account(provisioning: Provisioning, client: httpx.Client) -> str:
    answer = client.post(
        "/integrated-account",
        json={
            "integration": "betterstack",
            "name": _name("acct"),
            "betterstack_token": provisioning.stack.sandbox.token,
            "base_url": provisioning.stack.sandbox.base_url,
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _server(client: httpx.Client, account_id: str, **body: object) -> dict[str, object]:
    payload = {"name": _name("srv"), "config": {"methods": ["read"]}, **body}
    answer = client.post(f"/integrated-account/{account_id}/mcp", json=payload)
    assert answer.status_code == 201, answer.text
    created: dict[str, object] = answer.json()
    return created


def _token_of(server: dict[str, object]) -> str:
    return str(server["url"]).rsplit("/", 1)[1]


# Named admin tokens ------------------------------------------------------------------------


def test_admin_token_lifecycle(provisioning: Provisioning, admin: httpx.Client) -> None:
    """Created and shown once, listed without the token, accepted at once, refused at once
    after revocation; the list never shows a token or its hash."""
    name = _name("alice")
    created = admin.post("/admin-token", json={"name": name})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "name", "created_at", "created_by", "token"}
    assert re.fullmatch(r"adm_[0-9a-f]{16}", body["id"])
    assert body["name"] == name
    assert body["created_by"] == "admin"
    token = body["token"]
    assert token.startswith("smcp_adm_")

    listed = admin.get("/admin-token")
    assert listed.status_code == 200
    items = {item["id"]: item for item in listed.json()["items"]}
    assert set(items[body["id"]]) == {"id", "name", "created_at", "created_by"}
    assert token not in listed.text
    assert hash_token(token) not in listed.text

    with httpx.Client(base_url=provisioning.url, headers=_bearer(token), timeout=15) as alice:
        assert alice.get("/integrated-account").status_code == 200
        assert admin.delete(f"/admin-token/{body['id']}").status_code == 204
        refused = alice.get("/integrated-account")
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "unauthenticated"
    assert body["id"] not in {i["id"] for i in admin.get("/admin-token").json()["items"]}
    again = admin.delete(f"/admin-token/{body['id']}")
    assert again.status_code == 404
    assert admin.delete("/admin-token/not-an-id").status_code == 404


def test_admin_token_names_are_checked(admin: httpx.Client) -> None:
    """Reserved names are 400, malformed ones 422 naming ``name``, a name in use 409."""
    for reserved in ("admin", "expiry"):
        answer = admin.post("/admin-token", json={"name": reserved})
        assert answer.status_code == 400, answer.text
        assert "reserved" in answer.json()["error"]["message"]
    for bad in ("Alice", "", "-x", "a b", "x" * 64, "ålice", "a/b"):
        answer = admin.post("/admin-token", json={"name": bad})
        assert answer.status_code == 422, (bad, answer.text)
        assert "name" in answer.json()["error"]["fields"]
    name = _name("dup")
    first = admin.post("/admin-token", json={"name": name})
    assert first.status_code == 201
    try:
        second = admin.post("/admin-token", json={"name": name})
        assert second.status_code == 409, second.text
        assert name in second.json()["error"]["message"]
        assert "token" not in second.json()
    finally:
        admin.delete(f"/admin-token/{first.json()['id']}")


def test_a_named_operator_can_create_and_revoke_admin_tokens(
    provisioning: Provisioning, operator: tuple[str, str, str]
) -> None:
    """A named operator manages admin tokens too; what it creates names it as creator."""
    name, _, token = operator
    with httpx.Client(base_url=provisioning.url, headers=_bearer(token), timeout=15) as client:
        created = client.post("/admin-token", json={"name": _name("bob")})
        assert created.status_code == 201, created.text
        assert created.json()["created_by"] == name
        assert client.delete(f"/admin-token/{created.json()['id']}").status_code == 204


# The audit trail ---------------------------------------------------------------------------


def test_every_change_records_one_admin_change_naming_its_operator(
    provisioning: Provisioning, admin: httpx.Client, operator: tuple[str, str, str]
) -> None:
    """Accounts, servers, API tokens and admin tokens: one record per change, on the account's
    and server's subject, naming the operator; updates say what changed."""
    name, _, token = operator
    stack = provisioning.stack
    with httpx.Client(base_url=provisioning.url, headers=_bearer(token), timeout=15) as ops:
        account_id = _account(provisioning, ops)
        server = _server(ops, account_id)
        server_id = str(server["id"])
        path = f"/integrated-account/{account_id}/mcp/{server_id}"
        expires = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
        patched = ops.patch(
            path,
            json={
                "name": "renamed",
                "config": {"methods": ["read"], "tags": ["incidents"]},
                "expires_at": expires.isoformat(),
            },
        )
        assert patched.status_code == 200, patched.text
        assert ops.delete(path).status_code == 204
        api = ops.post("/api-token", json={"name": "audited"}).json()
        assert ops.delete(f"/api-token/{api['id']}").status_code == 204
        adm = ops.post("/admin-token", json={"name": _name("carol")}).json()
        assert ops.delete(f"/admin-token/{adm['id']}").status_code == 204
        assert ops.delete(f"/integrated-account/{account_id}").status_code == 204

    mine = [
        (subject, change)
        for subject, change, msg_id in admin_changes(stack.nats_url, stack.subjects)
        if change.operator == name and msg_id == change.id
    ]
    by_action = Counter(change.action for _, change in mine)
    assert by_action == {
        "account.created": 1,
        "mcp_server.created": 1,
        "mcp_server.updated": 1,
        "mcp_server.revoked": 1,
        "api_token.created": 1,
        "api_token.revoked": 1,
        "admin_token.created": 1,
        "admin_token.revoked": 1,
        "account.deleted": 1,
    }, by_action
    by = {change.action: (subject, change) for subject, change in mine}
    subject, updated = by["mcp_server.updated"]
    assert subject == stack.subjects.audit_admin(account_id, server_id)
    assert updated.changes is not None
    assert updated.changes["name"] == "renamed"
    assert updated.changes["tags"] == ["incidents"]
    assert datetime.fromisoformat(updated.changes["expires_at"]) == expires
    assert "methods" not in updated.changes  # unchanged
    assert by["mcp_server.revoked"][1].name == "renamed"
    assert by["account.created"][0] == stack.subjects.audit_admin(account_id)
    assert by["api_token.revoked"][1].target_id == api["id"]
    assert by["api_token.revoked"][0] == stack.subjects.audit_admin()
    assert by["admin_token.created"][1].target_id == adm["id"]
    assert len({change.id for _, change in mine}) == len(mine)
    raw = msgspec.json.encode([change for _, change in mine]).decode()
    for secret in (token, _token_of(server), adm["token"], api["token"]):
        assert secret not in raw


def test_the_bootstrap_token_is_operator_admin(
    provisioning: Provisioning, admin: httpx.Client
) -> None:
    """Changes made with the bootstrap admin token are recorded under ``admin``."""
    created = admin.post("/api-token", json={"name": _name("boot")}).json()
    admin.delete(f"/api-token/{created['id']}")
    stack = provisioning.stack
    changes = [
        change
        for _, change, _ in admin_changes(stack.nats_url, stack.subjects)
        if change.target_id == created["id"]
    ]
    assert [(c.action, c.operator) for c in changes] == [
        ("api_token.created", "admin"),
        ("api_token.revoked", "admin"),
    ]


# Server history ----------------------------------------------------------------------------


def test_a_revoked_server_stays_listed_and_its_url_is_dead(
    provisioning: Provisioning, admin: httpx.Client, operator: tuple[str, str, str]
) -> None:
    """Revoked: grant key gone, an EndedGrant in its place, the record kept (with a TTL, no
    ``expires_at``) and shown with its status, who ended it and when."""
    name, _, token = operator
    stack = provisioning.stack
    account_id = provisioning.account_id
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    server = _server(admin, account_id, expires_at=expires)
    token_hash = hash_token(_token_of(server))
    path = f"/integrated-account/{account_id}/mcp/{server['id']}"
    with httpx.Client(base_url=provisioning.url, headers=_bearer(token), timeout=15) as ops:
        assert ops.delete(path).status_code == 204
    shown = admin.get(path)
    assert shown.status_code == 200, shown.text
    view = shown.json()
    assert view["status"] == "revoked"
    assert view["ended_by"] == name
    assert view["created_by"] == "admin"
    ended_at = datetime.fromisoformat(view["ended_at"])
    assert abs(datetime.now(UTC) - ended_at) < timedelta(seconds=30)

    redis = Redis.from_url(stack.redis_url)
    try:
        assert not redis.exists(stack.keys.grant(token_hash))
        raw = redis.get(stack.keys.ended_grant(token_hash))
        assert raw is not None
        ended = msgspec.json.decode(raw, type=EndedGrant)
        assert (ended.server_id, ended.account_id, ended.status) == (
            server["id"],
            account_id,
            "revoked",
        )
        assert ended.ended_by == name
        history = 90 * 86_400
        assert 0 < redis.ttl(stack.keys.ended_grant(token_hash)) <= history
        server_key = stack.keys.mcp_server(str(server["id"]))
        assert 0 < redis.ttl(server_key) <= history
        assert not redis.hexists(server_key, SERVER_EXPIRES_FIELD)
    finally:
        redis.close()

    revoked = admin.delete(path)
    assert revoked.status_code == 409
    assert "already revoked" in revoked.json()["error"]["message"]
    patched = admin.patch(path, json={"name": "x"})
    assert patched.status_code == 409
    assert patched.json()["error"]["message"] == "this MCP server was revoked; create a new one"


def test_history_past_retention_leaves_the_listing(
    provisioning: Provisioning, admin: httpx.Client
) -> None:
    """Once a revoked server's record expired, it leaves the account's set at the next listing."""
    stack = provisioning.stack
    account_id = _account(provisioning, admin)
    try:
        server = _server(admin, account_id)
        assert (
            admin.delete(f"/integrated-account/{account_id}/mcp/{server['id']}").status_code == 204
        )
        redis = Redis.from_url(stack.redis_url)
        try:
            redis.delete(stack.keys.mcp_server(str(server["id"])))  # retention over
            listed = admin.get(f"/integrated-account/{account_id}/mcp").json()["items"]
            assert listed == []
            members = redis.smembers(stack.keys.mcp_servers_of_account(account_id))
            assert members == set()
        finally:
            redis.close()
    finally:
        admin.delete(f"/integrated-account/{account_id}")


def test_the_status_filter(provisioning: Provisioning, admin: httpx.Client) -> None:
    """``?status=`` picks active, revoked or all; anything else is 400 naming the choices; the
    account's count is of active servers."""
    account_id = _account(provisioning, admin)
    try:
        active = _server(admin, account_id)
        revoked = _server(admin, account_id)
        base = f"/integrated-account/{account_id}/mcp"
        assert admin.delete(f"{base}/{revoked['id']}").status_code == 204

        def ids(status: str | None) -> list[object]:
            params = {} if status is None else {"status": status}
            answer = admin.get(base, params=params)
            assert answer.status_code == 200, answer.text
            return [item["id"] for item in answer.json()["items"]]

        assert ids(None) == ids("all") == [active["id"], revoked["id"]]
        assert ids("active") == [active["id"]]
        assert ids("revoked") == [revoked["id"]]
        assert ids("expired") == []
        bad = admin.get(base, params={"status": "gone"})
        assert bad.status_code == 400, bad.text
        message = bad.json()["error"]["message"]
        assert "active, expired, revoked, all" in message
        assert "gone" in message
        assert admin.get(f"/integrated-account/{account_id}").json()["mcp_server_count"] == 1
    finally:
        admin.delete(f"/integrated-account/{account_id}")


def test_server_views_carry_fingerprint_creator_and_usage(
    provisioning: Provisioning, admin: httpx.Client, operator: tuple[str, str, str]
) -> None:
    """fingerprint = 8 hex of the token hash (never the token); usage read from the counters
    gateways keep: the last 24 hours only."""
    name, _, token = operator
    stack = provisioning.stack
    with httpx.Client(base_url=provisioning.url, headers=_bearer(token), timeout=15) as ops:
        server = _server(ops, provisioning.account_id)
    idle = _server(admin, provisioning.account_id)
    url_token = _token_of(server)
    assert server["fingerprint"] == hash_token(url_token)[:8]
    assert server["created_by"] == name
    assert (server["calls_24h"], server["errors_24h"], server["last_used_at"]) == (0, 0, None)
    assert (server["status"], server["ended_at"], server["ended_by"]) == ("active", None, None)

    now = time.time()
    hour = hour_of(now)
    redis = Redis.from_url(stack.redis_url)
    try:
        redis.hset(
            stack.keys.server_usage(str(server["id"])),
            mapping={
                LAST_USED_FIELD: repr(now - 60),
                calls_field(hour): 5,
                errors_field(hour): 1,
                calls_field(hour - 3): 2,
                calls_field(hour - 30): 100,  # older than 24 hours
            },
        )
    finally:
        redis.close()
    base = f"/integrated-account/{provisioning.account_id}/mcp"
    views = {item["id"]: item for item in admin.get(base).json()["items"]}
    view = views[server["id"]]
    assert (view["calls_24h"], view["errors_24h"]) == (7, 1)
    last_used = datetime.fromisoformat(view["last_used_at"])
    assert abs(last_used.timestamp() - (now - 60)) < 1
    assert (views[idle["id"]]["calls_24h"], views[idle["id"]]["last_used_at"]) == (0, None)
    single = admin.get(f"{base}/{server['id']}").json()
    assert single["calls_24h"] == 7
    assert url_token not in admin.get(base).text


def test_a_server_past_expires_at_shows_expired_before_it_is_purged() -> None:
    """The status is computed: an active record past ``expires_at`` is ``expired``."""
    now = datetime.now(UTC)
    grant = Grant(
        server_id="srv_0123456789abcdef",
        account_id="acc_0123456789abcdef",
        expires_at=now - timedelta(seconds=1),
        created_at=now - timedelta(hours=1),
    )
    record = McpServerRecord(grant=grant, token_hash="ab" * 32, updated_at=now)
    assert server_status(record, now) == "expired"
    assert server_status(record, now - timedelta(seconds=2)) == "active"
    view = server_view(record, now, None)
    assert (view.status, view.fingerprint, view.calls_24h) == ("expired", "abababab", 0)
    revoked = msgspec.structs.replace(record, status="revoked", ended_by="alice", ended_at=now)
    assert server_view(revoked, now - timedelta(hours=1), None).status == "revoked"


# The console -------------------------------------------------------------------------------


def _console_sign_in(client: httpx.Client, token: str) -> None:
    form = client.get("/console/sign-in")
    found = CSRF.search(form.text)
    assert found, form.text[:500]
    answer = client.post(
        "/console/sign-in",
        data={"csrf_token": found.group(1), "admin_token": token, "next_path": ""},
    )
    assert answer.status_code == 303, answer.text


def test_console_names_the_operator_and_ends_when_the_token_is_revoked(
    provisioning: Provisioning, admin: httpx.Client
) -> None:
    """Signed in with a named token the header says who; its changes are recorded under that
    name; revoking the token ends the session on the next request."""
    name = _name("dora")
    created = admin.post("/admin-token", json={"name": name}).json()
    with httpx.Client(base_url=provisioning.url, timeout=15) as browser:
        _console_sign_in(browser, created["token"])
        page = browser.get("/console/accounts")
        assert page.status_code == 200
        assert f"Signed in as <strong>{name}</strong>" in page.text
        csrf = CSRF.search(page.text)
        assert csrf
        made = browser.post(
            "/console/api-tokens", data={"csrf_token": csrf.group(1), "name": "from the console"}
        )
        assert made.status_code == 303, made.text
        assert admin.delete(f"/admin-token/{created['id']}").status_code == 204
        after = browser.get("/console/accounts")
        assert after.status_code == 303
        assert after.headers["location"].startswith("/console/sign-in")
    stack = provisioning.stack
    changes = [
        change
        for _, change, _ in admin_changes(stack.nats_url, stack.subjects)
        if change.operator == name
    ]
    assert [c.action for c in changes] == ["api_token.created"]
    assert changes[0].target_id
    admin.delete(f"/api-token/{changes[0].target_id}")
    assert isinstance(changes[0], AdminChange)


def test_console_with_the_bootstrap_token_names_admin(provisioning: Provisioning) -> None:
    """The bootstrap admin token signs in as ``admin``."""
    with httpx.Client(base_url=provisioning.url, timeout=15) as browser:
        _console_sign_in(browser, provisioning.admin_token)
        page = browser.get("/console/accounts")
        assert "Signed in as <strong>admin</strong>" in page.text
