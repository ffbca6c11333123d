"""The status ping on a real NATS server: what a replica answers about itself, a slow or
failing readiness check, a stopping replica, and an unsubscribed one dropping out."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

from stackmcp.contracts import Subjects
from stackmcp.runtime.status import gather_status, serve_status

pytestmark = pytest.mark.integration


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def subjects() -> Subjects:
    return Subjects(f"st{secrets.token_hex(4)}")


async def test_each_replica_answers_with_its_checks_and_details(
    nc: Client, subjects: Subjects
) -> None:
    async def checks() -> dict[str, bool]:
        return {"nats": True, "redis": False}

    await serve_status(nc, subjects, "stackmcp-gateway", ready=checks, instance_id="g1")
    await serve_status(
        nc, subjects, "stackmcp-expiry", ready=lambda: True, details=lambda: {"scheduled": 3}
    )
    answers = {a.service: a for a in await gather_status(nc, subjects, wait=0.3)}
    assert set(answers) == {"gateway", "expiry"}
    gateway = answers["gateway"]
    assert (gateway.instance_id, gateway.ready) == ("g1", False)
    assert gateway.checks == {"nats": True, "redis": False}
    assert gateway.version == "0.1.0"
    assert answers["expiry"].ready is True
    assert answers["expiry"].details == {"scheduled": 3}


async def test_a_slow_check_a_broken_one_and_a_stopping_replica_are_not_ready(
    nc: Client, subjects: Subjects
) -> None:
    async def slow() -> bool:
        await asyncio.sleep(5)
        return True

    def broken() -> bool:
        raise RuntimeError("bug")

    stop = asyncio.Event()
    stop.set()
    await serve_status(nc, subjects, "stackmcp-a", ready=slow, instance_id="slow")
    await serve_status(nc, subjects, "stackmcp-b", ready=broken, instance_id="broken")
    await serve_status(nc, subjects, "stackmcp-c", ready=lambda: True, stop=stop, instance_id="c")
    answers = {a.instance_id: a for a in await gather_status(nc, subjects, wait=0.5)}
    assert answers["slow"].checks == {"answers_in_time": False}
    assert answers["broken"].checks == {"check": False}
    assert answers["c"].checks == {"ready": True, "serving": False}
    assert not any(answer.ready for answer in answers.values())


async def test_an_unsubscribed_replica_is_gone(nc: Client, subjects: Subjects) -> None:
    subscription = await serve_status(nc, subjects, "stackmcp-gateway", ready=lambda: True)
    assert len(await gather_status(nc, subjects, wait=0.2)) == 1
    await subscription.unsubscribe()
    assert await gather_status(nc, subjects, wait=0.2) == []
