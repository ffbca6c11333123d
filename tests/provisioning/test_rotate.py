"""Rotation, ``Cache-Control: no-store`` and duplicate names through the real admin API.

The end-to-end rotation through an MCP client on both gateway replicas is
``tests/e2e/test_rotation.py``; here: what the API answers, stores and records.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.provisioning import Provisioning

pytestmark = pytest.mark.integration

UNKNOWN_SERVER = "srv_0000000000000000"


@pytest.fixture(scope="module")
def admin(provisioning: Provisioning) -> Iterator[httpx.Client]:
    with provisioning.client() as client:
        yield client


@pytest.fixture(scope="module")
def account(provisioning: Provisioning, admin: httpx.Client) -> Iterator[str]:
    """An account of this module's own, so duplicate-name checks see only its servers."""
    answer = admin.post(
        "/integrated-account",
        json={
            "integration": "betterstack",
            "name": f"rotate-{secrets.token_hex(4)}",
            "betterstack_token": provisioning.stack.sandbox.token,
            "base_url": provisioning.stack.sandbox.base_url,
        },
    )
    assert answer.status_code == 201, answer.text
    account_id: str = answer.json()["id"]
    yield account_id
    admin.delete(f"/integrated-account/{account_id}")


def _create(admin: httpx.Client, account: str, name: str) -> dict[str, Any]:
    answer = admin.post(f"/integrated-account/{account}/mcp", json={"name": name})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _hash(url: str) -> str:
    return hashlib.sha256(url.rsplit("/", 1)[1].encode()).hexdigest()


def test_every_answer_carrying_a_secret_is_no_store(admin: httpx.Client, account: str) -> None:
    server = admin.post(f"/integrated-account/{account}/mcp", json={"name": "secretive"})
    rotated = admin.post(f"/integrated-account/{account}/mcp/{server.json()['id']}/rotate")
    api_token = admin.post("/api-token", json={"name": f"ns-{secrets.token_hex(3)}"})
    admin_token = admin.post("/admin-token", json={"name": f"ns-{secrets.token_hex(3)}"})
    for label, answer, secret in (
        ("server", server, "url"),
        ("rotate", rotated, "url"),
        ("api token", api_token, "token"),
        ("admin token", admin_token, "token"),
    ):
        assert answer.status_code in (200, 201), (label, answer.text)
        assert answer.json()[secret], label
        assert answer.headers["cache-control"] == "no-store", label
    admin.delete(f"/api-token/{api_token.json()['id']}")
    admin.delete(f"/admin-token/{admin_token.json()['id']}")


async def _grants_stored(provisioning: Provisioning, *urls: str) -> list[bool]:
    stack = provisioning.stack
    redis = stack.redis()
    try:
        return [bool(await redis.exists(stack.keys.grant(_hash(url)))) for url in urls]
    finally:
        await redis.aclose()


def test_rotate_stores_the_grant_under_the_new_hash_only_and_records_it(
    provisioning: Provisioning, admin: httpx.Client, account: str
) -> None:
    server = _create(admin, account, "to rotate")
    path = f"/integrated-account/{account}/mcp/{server['id']}"
    answer = admin.post(f"{path}/rotate")
    assert answer.status_code == 200, answer.text
    rotated = answer.json()
    assert rotated["id"] == server["id"]
    assert rotated["url"] != server["url"]
    assert rotated["fingerprint"] == _hash(rotated["url"])[:8]
    assert rotated["created_at"] == server["created_at"]
    assert rotated["created_by"] == server["created_by"]

    stored = asyncio.run(_grants_stored(provisioning, server["url"], rotated["url"]))
    assert stored == [False, True]

    deadline = time.monotonic() + 10
    while True:  # the audit record arrives through JetStream
        log = admin.get("/log", params={"server_id": server["id"], "kind": "admin"}).json()
        actions = [item["action"] for item in log["items"]]
        if "mcp_server.rotated" in actions:
            break
        assert time.monotonic() < deadline, actions
        time.sleep(0.1)
    record = next(item for item in log["items"] if item["action"] == "mcp_server.rotated")
    assert record["operator"] == "admin"
    assert record["name"] == "to rotate"
    assert server["url"].rsplit("/", 1)[1] not in str(log)
    assert rotated["url"].rsplit("/", 1)[1] not in str(log)

    again = admin.post(f"{path}/rotate")  # rotating twice is fine; each URL is new
    assert again.status_code == 200, again.text
    assert again.json()["url"] not in (server["url"], rotated["url"])


def test_rotate_unknown_server_or_account_is_404(admin: httpx.Client, account: str) -> None:
    for path in (
        f"/integrated-account/{account}/mcp/{UNKNOWN_SERVER}/rotate",
        f"/integrated-account/acc_0000000000000000/mcp/{UNKNOWN_SERVER}/rotate",
        f"/integrated-account/{account}/mcp/not-an-id/rotate",
    ):
        answer = admin.post(path)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error"]["code"] == "not_found"


def test_duplicate_names_are_warned_about_and_told_apart(admin: httpx.Client, account: str) -> None:
    first = _create(admin, account, "Triage")
    assert first["warnings"] == []
    second = _create(admin, account, "triage")
    assert second["warnings"] == [
        f'another active server of this account is already named "Triage" ({first["id"]}); '
        "tell them apart by id and URL fingerprint"
    ]
    listed = admin.get(f"/integrated-account/{account}/mcp").json()["items"]
    mine = {
        item["id"]: item["fingerprint"]
        for item in listed
        if item["id"] in (first["id"], second["id"])
    }
    assert len(set(mine.values())) == 2
    assert all(len(fp) == 8 for fp in mine.values())

    for server in (first, second):  # ended servers do not count
        admin.delete(f"/integrated-account/{account}/mcp/{server['id']}")
    assert _create(admin, account, "Triage")["warnings"] == []
