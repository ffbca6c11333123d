"""``notifications/tools/list_changed`` reaches open streams when a server's tool list changes.

Real stack (two gateway replicas, worker, NATS, Valkey) and the official SDK clients: a
Streamable HTTP session (its GET stream) and a 2024-11-05 HTTP+SSE session, both held by
replica 1, while the change is made the way provisioning makes it (the grant rewritten in Redis,
``McpServerUpdated`` published) and the session's next request goes to replica 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx2
import mcp_types
import msgspec
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from stackmcp.contracts import Grant
from stackmcp.runtime.config import NatsConfig
from stackmcp.runtime.natsx import connect
from tests.support.grants import mint_grant, update_grant
from tests.support.stack import McpStack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

WAIT = 10.0
QUIET = 1.5
"""Seconds to watch for a notification that must not come (the event reaches every replica in
milliseconds; a stray notification would come as fast)."""


@dataclass
class Watched:
    """An SDK session and the ``tools/list_changed`` notifications it received."""

    session: ClientSession
    changes: list[mcp_types.ToolListChangedNotification] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, message: object) -> None:
        """The SDK's ``message_handler``."""
        if isinstance(message, mcp_types.ToolListChangedNotification):
            self.changes.append(message)
            self.arrived.set()

    async def names(self) -> list[str]:
        """The tools the session lists now."""
        return [tool.name for tool in (await self.session.list_tools()).tools]


@asynccontextmanager
async def streamable_session(url: str) -> AsyncIterator[Watched]:
    """An SDK Streamable HTTP session whose GET stream is open when this yields."""
    get_stream_open = asyncio.Event()

    async def on_response(response: httpx2.Response) -> None:
        if response.request.method == "GET" and response.status_code == 200:
            get_stream_open.set()

    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx2.AsyncClient(
                timeout=httpx2.Timeout(30, read=300), event_hooks={"response": [on_response]}
            )
        )
        read, write = await stack.enter_async_context(streamable_http_client(url, http_client=http))
        watched = Watched(session=None)  # type: ignore[arg-type]
        watched.session = await stack.enter_async_context(
            ClientSession(read, write, message_handler=watched.handle)
        )
        await watched.session.initialize()
        await asyncio.wait_for(get_stream_open.wait(), WAIT)
        yield watched


@asynccontextmanager
async def sse_session(url: str) -> AsyncIterator[Watched]:
    """An SDK HTTP+SSE session (its stream is open once ``initialize`` was answered on it)."""
    async with AsyncExitStack() as stack:
        read, write = await stack.enter_async_context(sse_client(url))
        watched = Watched(session=None)  # type: ignore[arg-type]
        watched.session = await stack.enter_async_context(
            ClientSession(read, write, message_handler=watched.handle)
        )
        await watched.session.initialize()
        yield watched


async def mint(stack: McpStack, tags: tuple[str, ...]) -> tuple[str, Grant]:
    """A read-only server on the stack's account."""
    redis = stack.redis()
    try:
        return await mint_grant(
            redis, stack.keys, account_id=stack.account_id, methods=("read",), tags=tags
        )
    finally:
        await redis.aclose()


Change = Callable[[str, Grant], Awaitable[None]]


@pytest.fixture
async def change(mcp_stack: McpStack) -> AsyncIterator[Change]:
    """Rewrite a server's grant and publish ``McpServerUpdated``, as provisioning does."""
    redis = mcp_stack.redis()
    nc = await connect(NatsConfig(url=mcp_stack.nats_url), "test-list-changed")

    async def apply(token: str, grant: Grant) -> None:
        await update_grant(redis, nc, mcp_stack.subjects, mcp_stack.keys, token, grant)

    yield apply
    await nc.close()
    await redis.aclose()


async def test_open_streams_on_another_replica_hear_of_a_changed_tool_list_once(
    mcp_stack: McpStack, change: Change
) -> None:
    """A session's GET stream and an HTTP+SSE stream, both on replica 1, each get exactly one
    ``notifications/tools/list_changed`` when the server's tags change; the new list is served
    on replica 0 at once."""
    token, grant = await mint(mcp_stack, ("incidents",))
    async with (
        asyncio.timeout(60),
        streamable_session(mcp_stack.url(token, 1)) as streamable,
        sse_session(mcp_stack.url(token, 1) + "/sse") as legacy,
    ):
        before = await streamable.names()
        assert "list_all_better_stack_incidents" in before
        assert "list_all_better_stack_monitors" not in before

        await change(token, msgspec.structs.replace(grant, tags=("incidents", "monitors")))
        for watched in (streamable, legacy):
            await asyncio.wait_for(watched.arrived.wait(), WAIT)
        await asyncio.sleep(QUIET)  # room for a duplicate, which must not come
        assert [len(streamable.changes), len(legacy.changes)] == [1, 1]

        fresh = await mcp_stack_names(mcp_stack, token, replica=0)
        assert "list_all_better_stack_monitors" in fresh
        assert "list_all_better_stack_monitors" in await legacy.names()


async def test_a_change_that_leaves_the_list_equal_sends_nothing(
    mcp_stack: McpStack, change: Change
) -> None:
    """A new name and an excluded tool the read-only server never listed (a write): the
    policy differs, the list does not, and no notification comes."""
    token, grant = await mint(mcp_stack, ("incidents",))
    async with (
        asyncio.timeout(60),
        streamable_session(mcp_stack.url(token, 1)) as streamable,
        sse_session(mcp_stack.url(token, 1) + "/sse") as legacy,
    ):
        before = await streamable.names()
        hidden_anyway = ("better_stack_incidents_resolve",)
        await change(
            token, msgspec.structs.replace(grant, name="renamed", exclude_tools=hidden_anyway)
        )
        await asyncio.sleep(QUIET)
        assert (streamable.changes, legacy.changes) == ([], [])
        assert await streamable.names() == before


async def mcp_stack_names(stack: McpStack, token: str, replica: int) -> list[str]:
    """The tools a fresh Streamable HTTP session lists on one replica."""
    async with streamable_session(stack.url(token, replica)) as watched:
        return await watched.names()
