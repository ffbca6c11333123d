"""Flatten Better Stack's JSON:API-like envelopes into plain objects for a model.

``{"id","type","attributes":{…},"relationships":{"monitor":{"data":{"id","type"}}}}`` becomes
``{"id","type",…attributes, "monitor": {"id","type"}}``; a reference that ``included`` resolves
is replaced by the flattened included object. Attributes whose value is ``null`` are left out
(an incident carries a dozen unset fields such as ``screenshot_url``; leaving them out saves a
model's context, and an absent field reads the same as an unset one). Lists lose their
``pagination`` block (the worker issues its own cursors). Raw, un-enveloped answers pass
through unchanged.

:func:`result_kind` names what an endpoint answers with, so per-resource tables (credential
fields, free-text fields) can be looked up once per operation rather than per answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["RESULT_KINDS", "flatten_document", "flatten_resource", "result_kind"]

_Index = Mapping[tuple[str, str], dict[str, Any]]

RESULT_KINDS = frozenset(
    {
        "monitors",
        "monitor-groups",
        "response-times",
        "sla",
        "heartbeats",
        "heartbeat-groups",
        "availability",
        "incidents",
        "comments",
        "timeline",
        "on-calls",
        "events",
        "rotation",
        "policies",
        "policy-groups",
        "urgencies",
        "urgency-groups",
        "status-pages",
        "status-page-groups",
        "sections",
        "resources",
        "status-reports",
        "status-updates",
        "team-members",
        "roles",
        "metadata",
        "outgoing-webhooks",
        "incoming-webhooks",
        "slack-integrations",
        "team-maintenance",
    }
)
"""Upstream path segments that name what an answer holds (collections and reports)."""


def flatten_document(document: Any) -> Any:
    """Return the plain form of a whole response body (single object, list, or raw)."""
    if not isinstance(document, dict) or "data" not in document:
        return document
    included = document.get("included")
    index = _index(included if isinstance(included, list) else [included] if included else [])
    data = document["data"]
    if isinstance(data, list):
        return [flatten_resource(item, index) for item in data]
    return flatten_resource(data, index)


def flatten_resource(resource: Any, index: _Index | None = None) -> Any:
    """Return one resource object flattened, resolving references through ``index``."""
    if not isinstance(resource, dict) or "attributes" not in resource:
        return resource
    flat: dict[str, Any] = {"id": resource.get("id"), "type": resource.get("type")}
    attributes = resource.get("attributes") or {}
    flat.update({k: v for k, v in attributes.items() if v is not None and k not in ("id", "type")})
    for relation_name, relation in (resource.get("relationships") or {}).items():
        name = f"{relation_name}_relationship" if relation_name in flat else relation_name
        data = relation.get("data") if isinstance(relation, dict) else None
        if isinstance(data, list):
            flat[name] = [_resolve(ref, index or {}) for ref in data]
        elif isinstance(data, dict):
            flat[name] = _resolve(data, index or {})
        else:
            flat[name] = data
    return flat


def result_kind(path: str) -> str | None:
    """What the endpoint at ``path`` answers with: its last segment in :data:`RESULT_KINDS`.

    Action segments are skipped, so ``/api/v3/incidents/{incident_id}/acknowledge`` answers
    with ``incidents`` and ``/api/v2/monitor-groups/{monitor_group_id}/monitors`` with
    ``monitors``; ``None`` when no segment is known.
    """
    return next((part for part in reversed(path.split("/")) if part in RESULT_KINDS), None)


def _index(included: list[Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (str(item.get("type")), str(item.get("id"))): item
        for item in included
        if isinstance(item, dict) and "id" in item
    }


def _resolve(ref: dict[str, Any], index: _Index) -> Any:
    target = index.get((str(ref.get("type")), str(ref.get("id"))))
    compact = {"id": ref.get("id"), "type": ref.get("type"), **(ref.get("meta") or {})}
    if target is None:
        return compact
    return {**compact, **flatten_resource(target)}
