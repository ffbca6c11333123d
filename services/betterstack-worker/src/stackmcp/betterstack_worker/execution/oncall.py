"""On-call answers the API does not give in one call, computed in the worker.

Pure functions over flattened Better Stack results (see :mod:`~stackmcp.betterstack_worker
.normalise`); the executor makes the upstream reads and hands their results here.

* **Timeline filters** (the API has none): item types, a ``since``/``until`` window, newest
  first, and *collapse*: identical events (same ``item_type`` and title) become one entry with
  ``count``, ``first`` and ``last``; comments are never merged.
* **Escalation progress**: Better Stack runs an escalation policy's steps at the incident's
  start plus the steps' cumulative ``wait_before``, and stops when someone acknowledges (or
  resolves). So the steps reached, who each paged, the severity (the step's ``urgency_id``)
  and the next step follow from the incident, its policy and the severities. ``time_branching``
  steps are evaluated in their time zone; a matching branch hands over to another policy, which
  is named but not followed. ``wait_until_time`` waits are not modelled (taken as no wait).
* **Monitor lists**: a ``status`` filter and a compact form (no headers, bodies, credentials).
* **Heartbeat pings**: Better Stack reports no ping times. A heartbeat's incident starts once
  ``period + grace`` seconds pass without a ping, so a heartbeat with an open incident carries
  ``last_ping_before``: the incident's start minus ``period + grace`` (no ping since then).
* **The incident brief**: all of the above in one object.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "BRIEF",
    "COMPOSITIONS",
    "ESCALATE_NEXT",
    "INCIDENT_SEVERITY",
    "brief",
    "collapse",
    "escalation_targets",
    "filter_timeline",
    "notified_by",
    "progress",
    "severity_names",
    "shape_items",
    "with_severity",
]

BRIEF: Final = "incident_brief"
INCIDENT_SEVERITY: Final = "incident_severity"
ESCALATE_NEXT: Final = "escalate"
HEARTBEAT_PINGS: Final = "heartbeat_pings"
COMPOSITIONS: Final = frozenset({BRIEF, INCIDENT_SEVERITY, ESCALATE_NEXT, HEARTBEAT_PINGS})

COMPACT_MONITOR: Final = (
    "id",
    "pronounceable_name",
    "url",
    "monitor_type",
    "status",
    "last_checked_at",
    "paused_at",
    "monitor_group_id",
    "check_frequency",
    "policy_id",
)
"""The members a compact monitor keeps: what an on-call engineer scans a list for."""

_TEXT: Final = 160
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 time as an aware datetime (UTC when it names no offset), else ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    """``2026-12-02T13:00:00Z`` (seconds, UTC)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(text: Any, limit: int = _TEXT) -> str | None:
    if not isinstance(text, str):
        return None
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- timeline ---------------------------------------------------------------------------------


def _title(item: Mapping[str, Any]) -> str | None:
    data = item.get("data")
    if not isinstance(data, dict):
        return None
    title = data.get("title")
    if isinstance(title, str) and title:
        return title
    content = data.get("content")
    if isinstance(content, dict):
        return _short(content.get("text"))
    return _short(content)


def _author(item: Mapping[str, Any]) -> str | None:
    data = item.get("data")
    content = data.get("content") if isinstance(data, dict) else None
    user = content.get("user") if isinstance(content, dict) else None
    if isinstance(user, dict):
        name = user.get("name") or user.get("email")
        return str(name) if name else None
    return None


def filter_timeline(items: Sequence[Any], arguments: Mapping[str, Any]) -> list[Any]:
    """The timeline items ``arguments`` ask for: ``types``, ``since``/``until`` (inclusive),
    ``collapse`` and ``newest_first``, in that order."""
    types = arguments.get("types")
    since, until = parse_time(arguments.get("since")), parse_time(arguments.get("until"))
    kept: list[Any] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if types and item.get("item_type") not in types:
            continue
        at = parse_time(item.get("at"))
        if (since and (at is None or at < since)) or (until and (at is None or at > until)):
            continue
        kept.append(item)
    if arguments.get("collapse"):
        kept = collapse(kept)
    if arguments.get("newest_first"):
        kept.sort(key=lambda i: str(i.get("last") or i.get("at") or ""), reverse=True)
    return kept


def collapse(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Identical events merged: one entry per ``(item_type, title)`` with ``count``, ``first``
    and ``last`` (times) when it occurred more than once, in order of first occurrence.
    Comments are kept one by one."""
    entries: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        kind = str(item.get("item_type"))
        title = _title(item)
        if kind != "comment" and title is not None:
            key = (kind, title)
            entry = seen.get(key)
            if entry is not None:
                entry["count"] += 1
                entry["last"] = item.get("at")
                entry.pop("data", None)
                continue
        entry = {"id": item.get("id"), "item_type": kind, "at": item.get("at"), "count": 1}
        entry["data"] = item.get("data")
        if title is not None:
            entry["title"] = title
        entries.append(entry)
        if kind != "comment" and title is not None:
            seen[(kind, title)] = entry
    for entry in entries:
        if entry["count"] > 1:
            entry["first"] = entry.pop("at")
            entry.pop("id", None)
        else:
            entry.pop("count")
    return entries


def brief_timeline(items: Sequence[Any]) -> list[dict[str, Any]]:
    """The collapsed timeline as the brief shows it: time(s), count, type and title only."""
    events: list[dict[str, Any]] = []
    for entry in collapse(i for i in items if isinstance(i, dict)):
        event: dict[str, Any] = {"type": entry["item_type"]}
        if entry.get("count", 1) > 1:
            event.update(count=entry["count"], first=entry["first"], last=entry["last"])
        else:
            event["at"] = entry["at"]
        if entry["item_type"] == "comment":
            author = _author({"data": entry.get("data")})
            if author:
                event["by"] = author
        if entry.get("title"):
            event["title"] = entry["title"]
        events.append(event)
    return events


# --- escalation policies ----------------------------------------------------------------------


def severity_names(urgencies: Iterable[Any]) -> dict[str, str]:
    """Severity (urgency) id → name."""
    return {
        str(u.get("id")): str(u.get("name"))
        for u in urgencies
        if isinstance(u, dict) and u.get("id") is not None
    }


def _zone(name: Any) -> dt.tzinfo:
    try:
        return ZoneInfo(str(name)) if name else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _branch_matches(step: Mapping[str, Any], at: dt.datetime) -> bool:
    local = at.astimezone(_zone(step.get("timezone")))
    days = step.get("days") or _WEEKDAYS
    if _WEEKDAYS[local.weekday()] not in days:
        return False
    start, end = str(step.get("time_from") or "00:00"), str(step.get("time_to") or "23:59")
    return start <= local.strftime("%H:%M") <= end


def _metadata_branch(step: Mapping[str, Any], incident: Mapping[str, Any]) -> bool:
    metadata = incident.get("metadata")
    if not isinstance(metadata, dict):
        return False
    values = metadata.get(step.get("metadata_key"))
    found = {v.get("value") for v in values or () if isinstance(v, dict)}
    if isinstance(values, str):
        found = {values}
    wanted = step.get("metadata_values") or []
    return bool(found & {w.get("value") if isinstance(w, dict) else w for w in wanted})


def members(step: Mapping[str, Any], on_call: Sequence[str] | None) -> list[str]:
    """Who a step pages, in words: e-mails, ``on call: …``, ``entire team``, ``policy 3``."""
    who: list[str] = []
    for member in step.get("step_members") or ():
        if not isinstance(member, dict):
            continue
        kind = member.get("type")
        if kind == "user":
            who.append(str(member.get("email") or f"user {member.get('id')}"))
        elif kind == "current_on_call":
            who.append("on call: " + ", ".join(on_call) if on_call else "current on-call")
        elif kind == "entire_team":
            who.append("entire team")
        elif kind == "policy":
            who.append(f"policy {member.get('id')}")
        else:
            who.append(str(kind))
    return who


def progress(
    incident: Mapping[str, Any],
    policy: Mapping[str, Any] | None,
    severities: Mapping[str, str],
    now: dt.datetime,
    on_call: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """Where the incident's escalation policy stands: the steps reached (who each paged and
    when), the current step, the next one (``None`` after the last) and why it stopped.
    ``None`` when the incident has no policy (or it could not be read)."""
    if not isinstance(policy, dict):
        return None
    started = parse_time(incident.get("started_at"))
    if started is None:
        return None
    stopped_by = next(
        (
            (word, moment)
            for word, key in (("acknowledged", "acknowledged_at"), ("resolved", "resolved_at"))
            if (moment := parse_time(incident.get(key))) is not None
        ),
        None,
    )
    stop = stopped_by[1] if stopped_by else now
    steps = [s for s in policy.get("steps") or () if isinstance(s, dict)]
    at, current, paged = started, 0, []
    upcoming: dict[str, Any] | None = None
    branched: str | None = None
    for index, step in enumerate(steps, start=1):
        at += dt.timedelta(seconds=int(step.get("wait_before") or 0))
        kind = step.get("type")
        if at > stop:
            if kind == "escalation":
                upcoming = _step_view(index, step, at, severities, on_call)
                break
            continue
        current = index
        if kind == "escalation":
            paged.append(_step_view(index, step, at, severities, on_call))
        elif (kind == "time_branching" and _branch_matches(step, at)) or (
            kind == "metadata_branching" and _metadata_branch(step, incident)
        ):
            branched = f"policy {step.get('policy_id')}"
            break
    if upcoming is not None:
        due = upcoming.pop("at")
        if stopped_by is None:
            upcoming["due_at"] = due
    view: dict[str, Any] = {
        "policy": {"id": str(policy.get("id")), "name": policy.get("name")},
        "steps": len(steps),
        "current_step": current,
        "paged": paged,
        "next_step": upcoming,
    }
    if branched:
        view["branched_to"] = branched
    if stopped_by:
        view["stopped"] = f"{stopped_by[0]} at {iso(stopped_by[1])}"
    return view


def _step_view(
    index: int,
    step: Mapping[str, Any],
    at: dt.datetime,
    severities: Mapping[str, str],
    on_call: Sequence[str] | None,
) -> dict[str, Any]:
    view: dict[str, Any] = {"step": index, "at": iso(at), "who": members(step, on_call)}
    urgency = step.get("urgency_id")
    if urgency is not None:
        view["severity"] = severities.get(str(urgency), f"severity {urgency}")
    return view


def severity_of(view: Mapping[str, Any] | None) -> str | None:
    """The severity the incident is at: that of the last step that paged, else the first."""
    if not view:
        return None
    paged = view.get("paged") or []
    step = paged[-1] if paged else view.get("next_step")
    return step.get("severity") if isinstance(step, dict) else None


def with_severity(
    incidents: Sequence[Any],
    policies: Iterable[Any],
    urgencies: Iterable[Any],
    now: dt.datetime,
) -> list[Any]:
    """Incident list items with ``severity`` (and ``escalation_step``) added from their policy."""
    by_id = {str(p.get("id")): p for p in policies if isinstance(p, dict)}
    names = severity_names(urgencies)
    shaped: list[Any] = []
    for incident in incidents:
        if not isinstance(incident, dict) or incident.get("escalation_policy_id") is None:
            shaped.append(incident)
            continue
        view = progress(incident, by_id.get(str(incident["escalation_policy_id"])), names, now)
        extra: dict[str, Any] = {}
        if (severity := severity_of(view)) is not None:
            extra["severity"] = severity
        if view is not None:
            extra["escalation_step"] = f"{view['current_step']}/{view['steps']}"
        shaped.append({**incident, **extra})
    return shaped


def escalation_targets(
    step: Mapping[str, Any], default_calendar_id: str | None, team_name: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The escalate requests that page a step's members, and the members the API cannot page
    (integrations): ``([{"escalation_type": "User", "user_email": …}, …], ["slack_integration"])``.
    """
    requests: list[dict[str, Any]] = []
    skipped: list[str] = []
    for member in step.get("step_members") or ():
        if not isinstance(member, dict):
            continue
        kind = member.get("type")
        if kind == "user" and (member.get("email") or member.get("id") is not None):
            target = (
                {"user_email": member["email"]}
                if member.get("email")
                else {"user_id": int(member["id"])}
            )
            requests.append({"escalation_type": "User", **target})
        elif kind == "current_on_call" and default_calendar_id is not None:
            requests.append(
                {"escalation_type": "Schedule", "schedule_id": int(default_calendar_id)}
            )
        elif kind == "entire_team":
            requests.append({"escalation_type": "Team", "team_name": team_name})
        elif kind == "policy" and member.get("id") is not None:
            requests.append({"escalation_type": "Policy", "policy_id": int(member["id"])})
        else:
            skipped.append(str(kind))
    return requests, skipped


def notified_by(
    arguments: Mapping[str, Any],
    schedule: Any = None,
    policy: Any = None,
    severities: Mapping[str, str] | None = None,
) -> list[str]:
    """Who an escalate request pages, in words, composed from its target (the API answers
    with the unchanged incident): the user, the team, who is on call on the schedule, the
    first step of the policy, or everyone."""
    kind = arguments.get("escalation_type")
    if kind == "User":
        return [str(arguments.get("user_email") or f"user {arguments.get('user_id')}")]
    if kind == "Team":
        team = arguments.get("team_name") or f"team {arguments.get('team_id')}"
        return [f"entire team {team}"]
    if kind == "Schedule":
        emails = on_call_emails(schedule)
        label = f"schedule {arguments.get('schedule_id')}"
        return [f"on call on {label}: {', '.join(emails)}"] if emails else [f"on call on {label}"]
    if kind == "Policy":
        steps = [s for s in (policy or {}).get("steps") or () if isinstance(s, dict)]
        first = next((s for s in steps if s.get("type") == "escalation"), None)
        name = f"policy {arguments.get('policy_id')}"
        return [f"{name}, step 1: {', '.join(members(first, None))}"] if first else [name]
    return ["everyone in the organization"]


def on_call_emails(schedule: Any) -> list[str]:
    """E-mails of who is on call now on a flattened on-call schedule."""
    if not isinstance(schedule, dict):
        return []
    users = schedule.get("on_call_users") or []
    return [str(u["email"]) for u in users if isinstance(u, dict) and u.get("email")]


# --- heartbeats -------------------------------------------------------------------------------


def with_missed_pings(heartbeats: Sequence[Any], open_incidents: Iterable[Any]) -> list[Any]:
    """Heartbeats with ``last_ping_before`` (and ``open_incident_id``) when an open incident
    says their pings stopped: no ping arrived after ``last_ping_before``."""
    started: dict[str, tuple[dt.datetime, str]] = {}
    for incident in open_incidents:
        source = incident.get("heartbeat") if isinstance(incident, dict) else None
        at = parse_time(incident.get("started_at")) if isinstance(source, dict) else None
        if at is not None and isinstance(source, dict):
            key = str(source.get("id"))
            if key not in started or at < started[key][0]:
                started[key] = (at, str(incident.get("id")))
    shaped: list[Any] = []
    for beat in heartbeats:
        found = started.get(str(beat.get("id"))) if isinstance(beat, dict) else None
        if found is None or not isinstance(beat, dict):
            shaped.append(beat)
            continue
        silent = int(beat.get("period") or 0) + int(beat.get("grace") or 0)
        before = found[0] - dt.timedelta(seconds=silent)
        shaped.append({**beat, "last_ping_before": iso(before), "open_incident_id": found[1]})
    return shaped


# --- monitors ---------------------------------------------------------------------------------


def shape_items(kind: str, items: list[Any], arguments: Mapping[str, Any]) -> list[Any]:
    """List items after the worker-side filters of list tool ``kind`` (``timeline``,
    ``monitors``); other kinds pass through."""
    if kind == "timeline":
        return filter_timeline(items, arguments)
    if kind == "monitors":
        status = arguments.get("status")
        if status:
            wanted = {status} if isinstance(status, str) else set(status)
            items = [i for i in items if isinstance(i, dict) and i.get("status") in wanted]
        if arguments.get("compact"):
            items = [
                {k: i[k] for k in COMPACT_MONITOR if k in i} if isinstance(i, dict) else i
                for i in items
            ]
    return items


# --- the brief --------------------------------------------------------------------------------


def brief(
    incident: Mapping[str, Any],
    *,
    timeline: Sequence[Any],
    comments: Sequence[Any],
    policy: Mapping[str, Any] | None,
    urgencies: Iterable[Any],
    on_call: Sequence[str] | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """Everything a responder taking over needs, in one object."""
    view = progress(incident, policy, severity_names(urgencies), now, on_call)
    out: dict[str, Any] = {
        "id": incident.get("id"),
        "name": incident.get("name"),
        "status": incident.get("status"),
        "cause": incident.get("cause"),
        "severity": severity_of(view),
        "started_at": incident.get("started_at"),
    }
    for word in ("acknowledged", "resolved", "reopened"):
        if incident.get(f"{word}_at"):
            out[word] = {"at": incident.get(f"{word}_at"), "by": incident.get(f"{word}_by")}
    source = incident.get("monitor") or incident.get("heartbeat")
    if isinstance(source, dict):
        out["source"] = {
            k: source[k]
            for k in ("type", "id", "pronounceable_name", "name", "url", "status")
            if source.get(k) is not None and not (k == "url" and source.get("type") == "heartbeat")
        }
    metadata = _plain_metadata(incident.get("metadata"))
    if metadata:
        out["metadata"] = metadata
    out["escalation"] = view
    out["comments"] = [
        {
            "at": c.get("created_at"),
            "by": c.get("user_email") or "API",
            "text": _short(c.get("content"), 400),
        }
        for c in comments
        if isinstance(c, dict)
    ]
    events = [i for i in timeline if isinstance(i, dict) and i.get("item_type") != "comment"]
    out["timeline"] = {"items": len(timeline), "events": brief_timeline(events)}
    return {k: v for k, v in out.items() if v is not None}


def _plain_metadata(metadata: Any) -> dict[str, str]:
    if not isinstance(metadata, dict):
        return {}
    plain: dict[str, str] = {}
    for key, values in metadata.items():
        if isinstance(values, list):
            shown = [
                str(v.get("value") or v.get("email") or v.get("name") or v.get("item_id"))
                for v in values
                if isinstance(v, dict)
            ]
            plain[str(key)] = ", ".join(shown)
        elif values is not None:
            plain[str(key)] = str(values)
    return plain
