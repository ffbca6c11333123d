"""Contract additions for API tokens, account grant sets and grant key expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from stackmcp import contracts
from stackmcp.contracts import (
    ApiTokenRecord,
    ApiTokenRevoked,
    Grant,
    LifecycleEvent,
    RedisKeys,
    Subjects,
    grant_key_ttl,
)
from stackmcp.contracts.subjects import ApiTokenEventKind
from stackmcp.contracts.tokens import API_TOKEN_PREFIX, hash_token, new_token

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_new_names_are_exported() -> None:
    """The package exports the additions."""
    for name in ("ApiTokenRecord", "ApiTokenRevoked", "grant_key_ttl"):
        assert name in contracts.__all__
        assert hasattr(contracts, name)


def test_api_token_keys_and_account_servers_live_under_the_prefix() -> None:
    """Records by hash, a listing set, an id index, and each account's set of server ids."""
    keys = RedisKeys("acme")
    assert keys.api_token("abc") == "acme:api_token:abc"
    assert keys.api_tokens == "acme:api_tokens"
    assert keys.api_token_ids == "acme:api_token_ids"
    assert keys.mcp_servers_of_account("acc_1") == "acme:account:acc_1:mcp_servers"
    assert keys.mcp_server("srv_1") == "acme:mcp_server:srv_1"
    assert keys.expiry_schedule == "acme:expiry:schedule"
    assert keys.mcp_servers_of_account("acc_1") != keys.account("acc_1")


def test_api_token_subjects_fall_under_the_events_wildcard() -> None:
    """API token events are ``<prefix>.evt.api_token.<kind>``."""
    subjects = Subjects("acme.prod")
    kinds: tuple[ApiTokenEventKind, ...] = ("created", "revoked")
    for kind in kinds:
        assert subjects.api_token_event(kind) == f"acme.prod.evt.api_token.{kind}"
    assert subjects.api_token_events == "acme.prod.evt.api_token.*"
    assert subjects.api_token_events.startswith(subjects.events[:-1])


def test_api_token_record_and_revocation_round_trip() -> None:
    """The record stores only the hash; the revocation decodes through the event union."""
    token = new_token(API_TOKEN_PREFIX)
    record = ApiTokenRecord(id="apt_1", name="ci", token_hash=hash_token(token), created_at=NOW)
    wire = msgspec.json.encode(record)
    assert token.encode() not in wire
    assert msgspec.json.decode(wire)["type"] == "stackmcp.api_token.v1.record"
    assert msgspec.json.decode(wire, type=ApiTokenRecord) == record
    assert record.last_used_at is None

    event = ApiTokenRevoked(id="e1", occurred_at=NOW, token_hash=record.token_hash)
    wire = msgspec.json.encode(event)
    assert msgspec.json.decode(wire)["type"] == "stackmcp.api_token.v1.revoked"
    assert msgspec.json.decode(wire, type=LifecycleEvent) == event


def test_grant_key_ttl_rounds_up_and_never_drops_below_one_second() -> None:
    """Whole seconds until expires_at, at least 1; None without expiry."""
    assert grant_key_ttl(Grant(server_id="s", account_id="a"), NOW) is None

    def ttl(delta: timedelta) -> int | None:
        return grant_key_ttl(Grant(server_id="s", account_id="a", expires_at=NOW + delta), NOW)

    assert ttl(timedelta(hours=1)) == 3600
    assert ttl(timedelta(seconds=2, milliseconds=1)) == 3
    assert ttl(timedelta(milliseconds=10)) == 1
    assert ttl(timedelta(0)) == 1
    assert ttl(timedelta(seconds=-30)) == 1
