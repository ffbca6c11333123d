"""Upstream endpoints deliberately not exposed as tools, each with its reason."""

from __future__ import annotations

from stackmcp.betterstack_worker.api.model import Excluded

__all__ = ["EXCLUDED"]

_V2_INCIDENTS = (
    "Legacy v2 duplicate of the v3 incident endpoint; one tool per action keeps the catalogue "
    "small and v3 returns typed metadata."
)

EXCLUDED: tuple[Excluded, ...] = (
    Excluded(
        http_method="GET",
        path="/api/v2/incidents",
        reason=_V2_INCIDENTS,
        covered_by="GET /api/v3/incidents",
    ),
    Excluded(
        http_method="GET",
        path="/api/v2/incidents/{incident_id}",
        reason=_V2_INCIDENTS,
        covered_by="GET /api/v3/incidents/{incident_id}",
    ),
    Excluded(
        http_method="POST",
        path="/api/v2/incidents",
        reason=_V2_INCIDENTS,
        covered_by="POST /api/v3/incidents",
    ),
    Excluded(
        http_method="POST",
        path="/api/v2/incidents/{incident_id}/acknowledge",
        reason=_V2_INCIDENTS,
        covered_by="POST /api/v3/incidents/{incident_id}/acknowledge",
    ),
    Excluded(
        http_method="POST",
        path="/api/v2/incidents/{incident_id}/resolve",
        reason=_V2_INCIDENTS,
        covered_by="POST /api/v3/incidents/{incident_id}/resolve",
    ),
    Excluded(
        http_method="DELETE",
        path="/api/v2/incidents/{incident_id}",
        reason=_V2_INCIDENTS,
        covered_by="DELETE /api/v3/incidents/{incident_id}",
    ),
    Excluded(
        http_method="GET",
        path="/api/v2/incidents/{incident_id}/timeline",
        reason=_V2_INCIDENTS,
        covered_by="GET /api/v3/incidents/{incident_id}/timeline",
    ),
    Excluded(
        http_method="GET",
        path="/api/v2/policies",
        reason="Legacy v2 list of escalation policies; the v3 list returns the same policies "
        "with their steps.",
        covered_by="GET /api/v3/policies",
    ),
)
