"""The server-to-client streams open on this replica, and what they are told.

Two kinds of stream carry messages the client did not ask for: a session's GET stream
(Streamable HTTP, 2025-03-26 … 2025-11-25) and the 2024-11-05 HTTP+SSE stream. Each is a
:class:`Listener` here, registered by the transport while the stream is open.

Every replica hears every ``McpServerUpdated`` (:meth:`GrantResolver.on_server_updated`), so
each replica tells its own streams; nothing about a change travels between replicas. A stream is
sent ``notifications/tools/list_changed`` only when the tools it would list really differ from
those it saw last (a change of tags that leaves the list equal sends nothing), and once per
change. Streams end when their session ends anywhere (:meth:`SessionStore.on_closed`) or their
server is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.tools import ToolDescriptor
from stackmcp.gateway.grants import GrantResolver
from stackmcp.gateway.mcp import McpMethods
from stackmcp.gateway.sessions import Session, SessionStore
from stackmcp.runtime.errors import NotFound, StackmcpError

__all__ = ["TOOLS_LIST_CHANGED", "Listener", "Streams"]

logger = logging.getLogger(__name__)

TOOLS_LIST_CHANGED = b'{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}'
_BACKLOG = 256
"""Messages a stream may hold for a client that does not read; more are dropped."""


class Listener:
    """One open stream: the session it serves and the messages waiting for it."""

    def __init__(self, token: str, session: Session, seen: Mapping[str, ToolDescriptor]) -> None:
        self.token = token
        self.token_hash = session.token_hash
        self.session = session
        self.seen = seen
        """The tools the client was last shown (or told changed)."""
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()  # bounded by push
        self.ended = False

    def push(self, message: bytes) -> None:
        """Queue ``message`` for the client (dropped, with a warning, if it stopped reading)."""
        if self.ended:
            return
        if self._queue.qsize() >= _BACKLOG:
            logger.warning("dropped a message for an SSE stream whose client does not read it")
            return
        self._queue.put_nowait(message)

    def end(self) -> None:
        """End the stream after what is queued (the session or the server is gone)."""
        if not self.ended:
            self.ended = True
            self._queue.put_nowait(None)

    async def next(self) -> bytes | None:
        """The next message, or ``None`` once the stream has ended."""
        return await self._queue.get()


class Streams:
    """This replica's open streams, by URL token hash and by session.

    Args:
        methods: the MCP methods (what a grant lists).
        sessions: the session store (streams end with their session).
    """

    def __init__(self, methods: McpMethods, sessions: SessionStore) -> None:
        self._methods = methods
        self._sessions = sessions
        self._grants: GrantResolver | None = None
        self._by_token: dict[str, set[Listener]] = {}
        self._by_session: dict[str, Listener] = {}
        self._checking = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        sessions.on_closed(self._session_closed)

    def follow(self, grants: GrantResolver) -> None:
        """Tell streams when ``grants`` hears that their server changed (call once, at wiring)."""
        self._grants = grants
        grants.on_server_updated(self.server_changed)

    async def open(self, token: str, grant: Grant, session: Session) -> Listener:
        """Register a stream of ``session``; a stream the session already had here ends (its
        client reconnected, or opened a second one: each message goes to one stream only).

        Raises:
            Unavailable: the tool catalogue is not available.
        """
        listener = Listener(token, session, await self._methods.listed_tools(grant))
        previous = self._by_session.pop(session.id, None)
        if previous is not None:
            self._forget(previous)
            previous.end()
        self._by_session[session.id] = listener
        self._by_token.setdefault(listener.token_hash, set()).add(listener)
        return listener

    def close(self, listener: Listener) -> None:
        """Forget a stream whose client went away (or that ended)."""
        listener.ended = True
        if self._by_session.get(listener.session.id) is listener:
            del self._by_session[listener.session.id]
        self._forget(listener)

    def count(self) -> int:
        """Streams open on this replica."""
        return len(self._by_session)

    def server_changed(self, token_hash: str) -> None:
        """The grant of ``token_hash`` changed: tell its streams if their tool list did."""
        if token_hash in self._by_token:
            self._spawn(self._recheck(token_hash))

    async def alive(self, listener: Listener) -> bool:
        """Whether the stream's session and server still exist (checked between keep-alives,
        from local copies mostly; a stream's session counts as active and stays alive).
        A store that cannot be reached keeps the stream."""
        try:
            if await self._sessions.get(listener.session.id, listener.token_hash) is None:
                return False
            if self._grants is not None:
                await self._grants.resolve(listener.token)
        except NotFound:
            return False
        except StackmcpError:
            return True
        return True

    def _forget(self, listener: Listener) -> None:
        group = self._by_token.get(listener.token_hash)
        if group is not None:
            group.discard(listener)
            if not group:
                del self._by_token[listener.token_hash]

    async def _recheck(self, token_hash: str) -> None:
        async with self._checking:  # one change at a time: each is compared with the last
            listeners = list(self._by_token.get(token_hash, ()))
            if not listeners or self._grants is None:
                return
            try:
                grant = await self._grants.resolve(listeners[0].token)
                tools = await self._methods.listed_tools(grant)
            except NotFound:
                for listener in listeners:
                    listener.end()
                return
            except StackmcpError as exc:
                logger.warning("could not compare a changed server's tools: %s", exc.code)
                return
            changed = [listener for listener in listeners if listener.seen != tools]
            for listener in changed:
                listener.seen = tools
                listener.push(TOOLS_LIST_CHANGED)
            if changed:
                logger.info("told %d stream(s) that their tool list changed", len(changed))

    def _session_closed(self, session_id: str) -> None:
        listener = self._by_session.get(session_id)
        if listener is not None:
            self._spawn(self._end_if_gone(listener))

    async def _end_if_gone(self, listener: Listener) -> None:
        if not await self.alive(listener):
            listener.end()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
