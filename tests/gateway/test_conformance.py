"""The official MCP conformance suite against a real gateway (with worker and sandbox).

The gateway exposes Better Stack tools only: no resources, prompts, logging, completions,
sampling or elicitation, and none of the suite's fixture tools (``test_simple_text``...). The
expected-failures files list exactly the scenarios that need those, each with its reason; the
suite fails the run on any other failure *and* on a listed scenario that passes (stale entry).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.conformance import ConformanceTools, run_conformance
from tests.support.grants import mint_grant
from tests.support.stack import McpStack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

EXPECTED = Path(__file__).with_name("conformance")


@pytest.mark.parametrize("requirements", ["2025-11-25", "2026-07-28"])
async def test_conformance_suite(
    conformance_tools: ConformanceTools,
    mcp_stack: McpStack,
    requirements: str,
    tmp_path: Path,
) -> None:
    """Only the documented, deliberately unsupported scenarios fail."""
    redis = mcp_stack.redis()
    try:
        token, _ = await mint_grant(
            redis, mcp_stack.keys, account_id=mcp_stack.account_id, methods=("read",)
        )
    finally:
        await redis.aclose()
    run = run_conformance(
        mcp_stack.url(token),
        requirements=requirements,
        expected_failures=EXPECTED / f"expected-failures-{requirements}.yml",
        output_dir=tmp_path,
        tools=conformance_tools,
    )
    print(run.total_line)  # the Total line belongs in the test log
    assert run.returncode == 0, run.output
    assert run.total_line is not None
