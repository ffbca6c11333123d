"""JSON:API-like envelopes flattened into plain objects with included references resolved."""

from __future__ import annotations

import json

from stackmcp.betterstack_worker.normalise import flatten_document


def test_single_incident_with_included_monitor_is_flattened() -> None:
    """Attributes move up, the monitor reference is replaced by the included monitor."""
    document = {
        "data": {
            "id": "7",
            "type": "incident",
            "attributes": {"name": "Checkout API is down", "status": "Started", "cause": "Timeout"},
            "relationships": {"monitor": {"data": {"id": "2", "type": "monitor"}}},
        },
        "included": {
            "id": "2",
            "type": "monitor",
            "attributes": {"pronounceable_name": "Checkout API"},
        },
    }
    assert flatten_document(document) == {
        "id": "7",
        "type": "incident",
        "name": "Checkout API is down",
        "status": "Started",
        "cause": "Timeout",
        "monitor": {"id": "2", "type": "monitor", "pronounceable_name": "Checkout API"},
    }


def test_list_of_on_call_calendars_resolves_users_and_drops_pagination() -> None:
    """List items are flattened; relationship arrays resolve each user; meta is kept."""
    document = {
        "data": [
            {
                "id": "1",
                "type": "on_call_calendar",
                "attributes": {"name": "Core Infrastructure", "default_calendar": False},
                "relationships": {
                    "on_call_users": {
                        "data": [
                            {"id": "9", "type": "user", "meta": {"email": "alice@example.com"}}
                        ]
                    }
                },
            }
        ],
        "included": [{"id": "9", "type": "user", "attributes": {"first_name": "Alice"}}],
        "pagination": {"first": "https://x/api/v2/on-calls?page=1", "next": None},
    }
    (calendar,) = flatten_document(document)
    assert calendar["on_call_users"] == [
        {"id": "9", "type": "user", "email": "alice@example.com", "first_name": "Alice"}
    ]
    assert "pagination" not in json.dumps(calendar)


def test_unresolved_references_stay_compact_and_raw_bodies_pass_through() -> None:
    """A reference without an included object stays {id, type}; raw bodies are unchanged."""
    document = {
        "data": {
            "id": "3",
            "type": "status_report",
            "attributes": {"title": "Degraded"},
            "relationships": {"status_updates": {"data": [{"id": "4", "type": "status_update"}]}},
        }
    }
    assert flatten_document(document)["status_updates"] == [{"id": "4", "type": "status_update"}]
    raw = {"events": [{"id": 1, "users": ["a@example.com"]}]}
    assert flatten_document(raw) is raw


def test_null_attributes_are_left_out_but_other_falsy_values_stay() -> None:
    """``null`` attributes are dropped; ``false``, ``0``, ``""`` and ``[]`` are information."""
    document = {
        "data": {
            "id": "7",
            "type": "incident",
            "attributes": {
                "resolved_at": None,
                "call": False,
                "team_wait": 0,
                "cause": "",
                "regions": [],
            },
        }
    }
    assert flatten_document(document) == {
        "id": "7",
        "type": "incident",
        "call": False,
        "team_wait": 0,
        "cause": "",
        "regions": [],
    }
