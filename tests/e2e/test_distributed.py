"""The production shape on one machine: a 3-node JetStream cluster, two gateways, two workers,
two expiry replicas and provisioning, all real processes on 127.0.0.1, as on Kubernetes.

Every service gets all three NATS URLs (``STACKMCP_NATS_URL``) and the events stream is kept in
three copies (``STACKMCP_NATS_STREAM_REPLICAS=3``). The tests stop one NATS node and one worker
(or one expiry replica) while MCP clients keep calling tools through both gateways. The shape,
the load loop and the stream reader are :mod:`tests.support.distributed`, shared with the fault
suite (``tests/e2e/test_faults.py``, ``bench/faults.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from mcp import Client

from tests.support.distributed import (
    READ_TOOL,
    Distributed,
    Load,
    LoadSpec,
    busiest,
    distributed_shape,
    expired_event_counts,
    kill_node,
    restart_node,
)
from tests.support.sandbox import RunningSandbox

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TOOL = READ_TOOL


@pytest.fixture(scope="module")
def distributed(
    running_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Distributed]:
    with distributed_shape(tmp_path_factory.mktemp("distributed"), running_sandbox) as system:
        yield system


@pytest.fixture(autouse=True)
async def whole_again(distributed: Distributed) -> AsyncIterator[None]:
    """Bring back whatever a test stopped, even when it failed half-way: a NATS node left
    dead by one test would make the next one lose quorum when it kills another."""
    yield
    await distributed.make_whole()


def _reads(url: str) -> Load:
    """One MCP client calling the read tool back to back (20 ms apart) on one gateway."""
    return Load(LoadSpec(urls=[url], clients=1, write_every=0, pause=0.02, failover=False))


async def test_tool_calls_keep_working_while_a_nats_node_and_a_worker_are_stopped(
    distributed: Distributed,
) -> None:
    server = distributed.create_server(name="calls", config={"methods": ["read"]})
    urls = [distributed.mcp_url(server, gateway) for gateway in (0, 1)]
    calls = [_reads(url) for url in urls]
    async with contextlib.AsyncExitStack() as loops:
        for load in calls:
            await loops.enter_async_context(load)
        for load in calls:
            await load.warm()  # sessions open and calling (slow on a loaded machine)
        await asyncio.sleep(2)
        node = busiest(distributed.nats)
        crashed_at = time.monotonic()
        await asyncio.to_thread(kill_node, node)
        assert await asyncio.to_thread(distributed.workers[0].stop) == 0
        await asyncio.sleep(8)
    ended = time.monotonic()

    for per_gateway in calls:
        sent_before = per_gateway.started_between(0, crashed_at)
        before = [call for call in sent_before if call.ended < crashed_at]
        after = per_gateway.started_between(crashed_at + 3, ended)
        assert before
        assert all(call.ok for call in before), [c for c in before if not c.ok]
        assert len(after) >= 20, "calls slowed to a crawl after the failures"
        assert all(call.ok for call in after), "calls failed after the cluster re-formed"
        # in flight at the crash, or sent in the 3 s after it
        in_flight = [call for call in sent_before if call.ended >= crashed_at]
        during = in_flight + per_gateway.started_between(crashed_at, crashed_at + 3)
        failed = [call for call in during if not call.ok]
        assert len(failed) <= 1, f"more than the call in flight failed: {failed}"
    print(
        "distributed: calls per gateway (before, during 3 s, after):",
        [(len(c.started_between(0, crashed_at)), len(c.started_between(crashed_at, crashed_at + 3)),
          len(c.started_between(crashed_at + 3, ended))) for c in calls],
        "failures:", [[r.detail for r in c.calls if not r.ok] for c in calls],
        "slowest call (s):", round(max(r.seconds for c in calls for r in c.calls), 2),
    )  # fmt: skip

    await distributed.on_spawner(lambda: restart_node(node, distributed.nats))
    distributed.workers[0].start()
    await distributed.workers[0].await_ready()
    async with Client(urls[1]) as client:
        assert not (await client.call_tool(TOOL, {"resolved": False, "limit": 1})).is_error


async def test_expiry_purges_once_on_two_of_three_nodes_with_one_expiry_replica_down(
    distributed: Distributed,
) -> None:
    node = busiest(distributed.nats)
    await asyncio.to_thread(kill_node, node)
    assert await asyncio.to_thread(distributed.expiry[0].stop) == 0
    try:
        expires_at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).isoformat()
        server = distributed.create_server(name="short", expires_at=expires_at)
        url = distributed.mcp_url(server, 1)
        deadline = time.monotonic() + 15
        async with httpx.AsyncClient(timeout=5) as http:
            while (await http.get(url)).status_code != 404:
                assert time.monotonic() < deadline, "the expired server is still served"
                await asyncio.sleep(0.1)
        expired = await _expired_events(distributed, str(server["id"]))
        assert expired == 1
    finally:
        await distributed.on_spawner(lambda: restart_node(node, distributed.nats))
        distributed.expiry[0].start()
        await distributed.expiry[0].await_ready()


async def _expired_events(distributed: Distributed, server_id: str) -> int:
    """How many ``expired`` events ``server_id`` has in the replicated stream.

    Waits until at least one is there (a publish made while JetStream elected new leaders is
    re-published from the outbox), then reads again after a pause so a late duplicate counts.
    """
    deadline = time.monotonic() + 40
    while not (await expired_event_counts(distributed)).get(server_id):
        assert time.monotonic() < deadline, "no expired event reached the stream"
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)
    return (await expired_event_counts(distributed)).get(server_id, 0)
