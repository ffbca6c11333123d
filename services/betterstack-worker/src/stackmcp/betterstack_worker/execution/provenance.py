"""Provenance on the Better Stack timeline: who acted, through which MCP server.

When the grant asks for it (``ToolCallRequest.provenance``), a comment created through the
comment tool carries a short footer, and a successful acknowledge, resolve or escalate is
followed by one timeline comment on that incident naming the client and the server. These are
the texts; the executor sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from stackmcp.contracts.tools import Provenance

__all__ = ["COMMENT_TOOL", "NOTE_TOOLS", "footer", "note", "with_footer"]

COMMENT_TOOL: Final = "create_a_better_stack_incident_comment"
"""The tool whose comments get the footer, and the one that posts the notes."""

NOTE_TOOLS: Final[Mapping[str, str]] = {
    "better_stack_incidents_acknowledge": "Acknowledged",
    "better_stack_incidents_resolve": "Resolved",
    "better_stack_incidents_escalate": "Escalated",
}
"""Incident actions followed by a timeline note, and the verb the note starts with."""

_NAME_CHARS: Final = 60


def _clean(name: str) -> str:
    """One line, no double quotes (they delimit the name), at most :data:`_NAME_CHARS`."""
    text = " ".join(name.split()).replace('"', "'")
    return text if len(text) <= _NAME_CHARS else text[: _NAME_CHARS - 1] + "…"


def _client(provenance: Provenance) -> str | None:
    client = _clean(provenance.client_name or "")
    return client or None


def footer(provenance: Provenance) -> str:
    """``\\n\\n— via Claude Code · stackmcp "SRE triage"`` (without a client: ``— via stackmcp
    "SRE triage"``)."""
    server = f'stackmcp "{_clean(provenance.server_name)}"'
    client = _client(provenance)
    return f"\n\n— via {client} · {server}" if client else f"\n\n— via {server}"


def with_footer(
    tool: str, arguments: Mapping[str, Any], provenance: Provenance | None
) -> Mapping[str, Any]:
    """``arguments`` with the footer appended to a new comment's ``content`` (else unchanged)."""
    content = arguments.get("content")
    if provenance is None or tool != COMMENT_TOOL or not isinstance(content, str):
        return arguments
    return {**arguments, "content": content + footer(provenance)}


def note(tool: str, provenance: Provenance | None) -> str | None:
    """The timeline note after ``tool`` succeeds, e.g. ``Resolved via Claude Code through
    stackmcp server "SRE triage".``; ``None`` when the tool leaves no note."""
    verb = NOTE_TOOLS.get(tool)
    if verb is None or provenance is None:
        return None
    server = f'stackmcp server "{_clean(provenance.server_name)}"'
    client = _client(provenance)
    return f"{verb} via {client} through {server}." if client else f"{verb} through {server}."
