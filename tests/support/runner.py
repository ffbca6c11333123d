"""A stand-in for the worker pool in in-process gateway tests (``McpMethods``' ``ToolRunner``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import msgspec

from stackmcp.contracts.tools import RateLimitInfo, ToolCallRequest, ToolCallResult

LIMITS = RateLimitInfo(limit=100, remaining=7, reset=30)
"""The upstream rate-limit values every scripted result carries."""


@dataclass
class ScriptedRunner:
    """Answers every call with ``result`` (or raises ``error``); ``gate`` holds calls until set,
    ``started`` is set when one arrives; ``calls`` keeps every request."""

    result: ToolCallResult = field(
        default_factory=lambda: ToolCallResult(
            structured=msgspec.Raw(b'{"result":[],"next_cursor":null}'),
            rate_limit=LIMITS,
            upstream_status=200,
        )
    )
    error: Exception | None = None
    calls: list[ToolCallRequest] = field(default_factory=list)
    gate: asyncio.Event | None = None
    started: asyncio.Event | None = None

    async def run(self, call: ToolCallRequest, *, write: bool) -> ToolCallResult:
        """Record ``call``, wait for the gate if any, then answer or raise."""
        self.calls.append(call)
        if self.started is not None:
            self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.result
