"""The wire contract: unique versioned tags, round trips, additive evolution, subjects."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime

import msgspec
import pytest

from stackmcp import contracts
from stackmcp.contracts import (
    Grant,
    LifecycleEvent,
    McpServerCreated,
    Message,
    Subjects,
    ToolCallRequest,
)
from stackmcp.contracts.tokens import SECRET_TOKEN_RE, SERVER_TOKEN_PREFIX, hash_token, new_token


def _message_classes() -> list[type[Message]]:
    return [
        obj
        for _, obj in inspect.getmembers(contracts, inspect.isclass)
        if issubclass(obj, Message) and obj not in (Message, contracts.Event)
    ]


def test_every_message_has_a_unique_versioned_tag() -> None:
    """Tags are explicit, unique and follow stackmcp.<domain>.v<N>[.<name>]."""
    tags = [cls.__struct_config__.tag for cls in _message_classes()]
    assert len(tags) >= 10
    assert len(tags) == len(set(tags))
    for tag in tags:
        assert isinstance(tag, str)
        parts = tag.split(".")
        assert parts[0] == "stackmcp"
        assert re.fullmatch(r"v\d+", parts[2]), tag


def test_messages_are_frozen() -> None:
    """Wire messages cannot be mutated after construction."""
    req = ToolCallRequest(server_id="1", account_id="2", tool="t")
    with pytest.raises(AttributeError):
        req.tool = "other"  # type: ignore[misc]


def test_lifecycle_events_round_trip_through_one_union_decoder() -> None:
    """A decoder for the event union picks the class from the type tag."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    event = McpServerCreated(
        id="e1",
        occurred_at=now,
        grant=Grant(server_id="s1", account_id="a1", methods=("read",), tags=("incidents",)),
        token_hash="h",
    )
    wire = msgspec.json.encode(event)
    assert msgspec.json.decode(wire)["type"] == "stackmcp.mcp_server.v1.created"
    assert msgspec.json.decode(wire, type=LifecycleEvent) == event


def test_an_older_consumer_reads_a_newer_message() -> None:
    """Fields added later (with defaults) are ignored by consumers that predate them."""
    newer = msgspec.json.encode(
        {
            "type": "stackmcp.tool.v1.call_request",
            "server_id": "1",
            "account_id": "2",
            "tool": "t",
            "added_in_v1_7": {"x": 1},
        }
    )
    assert msgspec.json.decode(newer, type=ToolCallRequest).tool == "t"


def test_grant_expiry_is_checked_against_a_given_clock() -> None:
    """A grant is expired exactly from expires_at on."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    grant = Grant(server_id="s", account_id="a", expires_at=at)
    assert not grant.is_expired(datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert grant.is_expired(at)
    assert not Grant(server_id="s", account_id="a").is_expired(at)


def test_subjects_use_the_configured_prefix() -> None:
    """Every subject lives under the prefix; events fall under the stream wildcard."""
    subjects = Subjects("acme.prod")
    assert subjects.tool_call == "acme.prod.betterstack.tool.call"
    assert subjects.catalog_get == "acme.prod.betterstack.catalog.get"
    assert subjects.mcp_server_event("expired") == "acme.prod.evt.mcp_server.expired"
    assert subjects.account_event("deleted") == "acme.prod.evt.account.deleted"
    assert subjects.gateway_session("abc123") == "acme.prod.gateway.session.abc123"
    assert subjects.events == "acme.prod.evt.>"
    assert subjects.events_stream == "ACME_PROD_EVENTS"
    assert Subjects().tool_call == "stackmcp.betterstack.tool.call"


@pytest.mark.parametrize("prefix", ["", "a..b", "a.*", "a.>", "has space", "x."])
def test_invalid_prefixes_are_refused(prefix: str) -> None:
    """Wildcards, blanks and empty tokens cannot sneak into subjects."""
    with pytest.raises(ValueError, match="invalid subject prefix"):
        Subjects(prefix)


def test_session_ids_cannot_inject_subject_tokens() -> None:
    """A session id with dots or wildcards is refused."""
    with pytest.raises(ValueError, match="single subject token"):
        Subjects().gateway_session("a.>")


def test_tokens_are_prefixed_random_and_hashed() -> None:
    """Tokens carry 256 bits after a scannable prefix; only the hash is deterministic."""
    one, two = new_token(SERVER_TOKEN_PREFIX), new_token(SERVER_TOKEN_PREFIX)
    assert one != two
    assert one.startswith("smcp_srv_")
    assert len(one) == len("smcp_srv_") + 43
    assert SECRET_TOKEN_RE.fullmatch(one)
    assert hash_token(one) == hash_token(one) != hash_token(two)
    assert one not in hash_token(one)
