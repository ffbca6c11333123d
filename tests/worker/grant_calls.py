"""Tool calls as a gateway sends them for a grant with exclusions, pins, plans or provenance."""

from __future__ import annotations

from typing import Any

from stackmcp.contracts.tools import ToolCallRequest, ToolCallResult
from stackmcp.runtime.natsx import request
from tests.support.sandbox import RunningSandbox
from tests.support.worker import ALL_METHODS, WorkerHarness


async def call(
    harness: WorkerHarness, tool: str, arguments: dict[str, Any] | None = None, **fields: Any
) -> ToolCallResult:
    """Call ``tool`` through NATS with the grant-derived ``fields`` of a :class:`ToolCallRequest`
    (``exclude_tools``, ``pin``, ``plan_only``, ``provenance``...)."""
    message = ToolCallRequest(
        server_id=harness.server_id,
        account_id=harness.account_id,
        tool=tool,
        arguments=arguments or {},
        methods=fields.pop("methods", ALL_METHODS),
        timeout=10.0,
        **fields,
    )
    return await request(
        harness.nc, harness.subjects.tool_call, message, ToolCallResult, timeout=11
    )


def ok(result: ToolCallResult) -> Any:
    """The structured content of a successful result (fails the test on a tool error)."""
    assert not result.is_error, result.text
    return result.structured_value()


def requests_seen(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    """The sandbox's log of API requests since the last reset."""
    log: list[dict[str, Any]] = sandbox.admin("GET", "requests").json()["requests"]
    return log


def writes_seen(sandbox: RunningSandbox) -> list[str]:
    """``METHOD path`` of every request the sandbox saw that was not a read."""
    return [f"{r['method']} {r['path']}" for r in requests_seen(sandbox) if r["method"] != "GET"]
