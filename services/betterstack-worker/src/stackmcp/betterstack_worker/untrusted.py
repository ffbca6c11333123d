"""Free-text fields of Better Stack answers: written by people or by monitored systems.

An incident's name and cause, a comment, a status report's title, the body a failing check
received: anyone who can open an incident, post a comment or serve a monitored page writes
them. A tool result names such fields in ``ToolCallResult.untrusted`` so the gateway can tell a
model they are data, never instructions.

:data:`UNTRUSTED_FIELDS` maps a :func:`~stackmcp.betterstack_worker.normalise.result_kind` to
the field names in each result item (flattened), in the path syntax of
:mod:`~stackmcp.betterstack_worker.secrets` (``a.b``, ``a[].b``). It lists prose and names
people choose, not identifiers, e-mail addresses, enums, URLs or numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

from stackmcp.betterstack_worker.api import Operation
from stackmcp.betterstack_worker.normalise import result_kind

__all__ = ["BRIEF_FIELDS", "UNTRUSTED_FIELDS", "untrusted_fields"]

NAME = ("name",)

UNTRUSTED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "incidents": (
        "name",
        "cause",
        "response_content",
        "monitor.pronounceable_name",
        "heartbeat.name",
    ),
    "comments": ("content",),
    "timeline": ("data", "title"),
    "monitors": ("pronounceable_name",),
    "monitor-groups": NAME,
    "heartbeats": NAME,
    "heartbeat-groups": NAME,
    "on-calls": NAME,
    "policies": ("name", "steps[].instructions_comment"),
    "policy-groups": NAME,
    "urgencies": NAME,
    "urgency-groups": NAME,
    "status-pages": ("company_name", "announcement"),
    "status-page-groups": NAME,
    "sections": NAME,
    "resources": ("public_name", "explanation"),
    "status-reports": ("title", "status_updates[].message"),
    "status-updates": ("message",),
    "team-members": ("first_name", "last_name"),
    "metadata": ("values[].value",),
    "outgoing-webhooks": NAME,
    "incoming-webhooks": NAME,
    "slack-integrations": ("slack_team_name", "slack_channel_name"),
}
"""Result kind → free-text fields of each result item.

``timeline``: an item's ``data`` holds its title and text (comments, page responses); a
collapsed entry (``collapse``) shows its ``title``.
Kinds absent here (SLA and response-time reports, on-call events and rotations, roles) carry
only numbers, times, e-mail addresses and names Better Stack defines.
"""


BRIEF_FIELDS = (
    "name",
    "cause",
    "source.pronounceable_name",
    "source.name",
    "metadata",
    "escalation.policy.name",
    "comments[].text",
    "timeline.events[].title",
)
"""The free text of an incident brief (``better_stack_incidents_brief``): the incident's, its
monitor's or heartbeat's name, metadata, the policy's name, comments and timeline titles."""


def untrusted_fields(op: Operation) -> tuple[str, ...]:
    """The free-text fields of ``op``'s results (empty for answers without a body)."""
    if op.envelope == "empty":
        return ()
    if op.compose == "incident_brief":
        return BRIEF_FIELDS
    return UNTRUSTED_FIELDS.get(result_kind(op.path) or "", ())
