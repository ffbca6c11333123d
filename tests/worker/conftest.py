"""Fixtures shared by the worker tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.sandbox import RunningSandbox
from tests.support.worker import WorkerHarness, running_worker


@pytest.fixture
async def worker(
    nats_url: str, redis_url: str, sandbox_api: RunningSandbox
) -> AsyncIterator[WorkerHarness]:
    """The worker serving a sandbox account."""
    async with running_worker(
        nats_url, redis_url, base_url=sandbox_api.base_url, token=sandbox_api.token
    ) as harness:
        yield harness
