"""The floor of the call path's design: the same hops and libraries with none of the product.

``gateway_load.py --floor`` starts this script twice, as a gateway and as a worker, next to
ours and on the same core, NATS and emulator, so that one run shows what a ``tools/call``
costs when nothing but the design's hops is left:

* **gateway**: embedded Granian (ASGI, as ours), uvloop, one bare ASGI callable. It answers
  ``initialize`` with a session id, ``notifications/*`` with 202, ``tools/list`` with one tool,
  and sends each ``tools/call`` over NATS to the worker queue group with a reply subject under
  one wildcard inbox, then frames the worker's JSON as the JSON-RPC result (one copy).
* **worker**: uvloop, nats-py, one aiohttp session; per call one GET of the emulator's 50
  incidents, answered as ``{"content": [{"type": "text", "text": ...}]}``.

Nothing else: no Redis, grant, session store, rate limit, deadline, beacon, audit, span, metric,
validation or flattening. Whatever this costs per call, ours cannot go below it with these
hops and libraries; the rest of ours is the product.

    python bench/floor.py gateway --port 8000 --nats nats://127.0.0.1:4222
    python bench/floor.py worker --nats nats://127.0.0.1:4222 --upstream http://127.0.0.1:9100
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import signal
from typing import Any

import aiohttp
import msgspec
import nats
import uvloop
from granian.constants import Interfaces
from granian.server.embed import Server

SUBJECT = "floor.call"
TOOL = "list_incidents"
READY = "floor worker ready"
_LIST = msgspec.json.encode(
    {
        "tools": [
            {
                "name": TOOL,
                "description": "List incidents.",
                "inputSchema": {"type": "object", "properties": {"limit": {"type": "integer"}}},
            }
        ]
    }
)
_INIT = msgspec.json.encode(
    {
        "protocolVersion": "2025-06-18",
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "floor", "version": "0"},
    }
)
_JSON = [(b"content-type", b"application/json")]


class _Request(msgspec.Struct):
    method: str
    id: int | str | None = None
    params: msgspec.Raw = msgspec.Raw(b"null")


_DECODE = msgspec.json.Decoder(_Request)


class Gateway:
    """A bare ASGI MCP endpoint that sends every ``tools/call`` to a worker over NATS."""

    def __init__(self, nc: Any) -> None:
        self._nc = nc
        self._inbox = ""
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._tokens = itertools.count(1)

    async def start(self) -> None:
        """Subscribe to this gateway's reply inbox."""
        self._inbox = self._nc.new_inbox() + "."
        await self._nc.subscribe(self._inbox + "*", cb=self._on_reply)

    async def _on_reply(self, msg: Any) -> None:
        future = self._waiting.get(msg.subject[len(self._inbox) :])
        if future is not None and not future.done():
            future.set_result(msg.data)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _answer(send, 200 if scope["method"] == "DELETE" else 405, b"")
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = _DECODE.decode(body)
        if request.id is None:
            await _answer(send, 202, b"")
        elif request.method == "tools/call":
            await _answer(send, 200, _frame(request.id, await self._call(request.params)))
        elif request.method == "tools/list":
            await _answer(send, 200, _frame(request.id, _LIST))
        else:
            headers = [*_JSON, (b"mcp-session-id", secrets.token_hex(16).encode())]
            await _answer(send, 200, _frame(request.id, _INIT), headers)

    async def _call(self, params: msgspec.Raw) -> bytes:
        token = f"{next(self._tokens):x}"
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        try:
            await self._nc.publish(SUBJECT, bytes(params), reply=self._inbox + token)
            return await asyncio.wait_for(future, 30)
        finally:
            self._waiting.pop(token, None)  # a call that timed out leaves nothing behind


def _frame(request_id: int | str, result: bytes) -> bytes:
    return b"".join(
        (b'{"jsonrpc":"2.0","id":', msgspec.json.encode(request_id), b',"result":', result, b"}")
    )


async def _answer(
    send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] = _JSON
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _until_signalled() -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_gateway(options: argparse.Namespace) -> None:
    """Serve the bare gateway on ``options.port`` until signalled."""
    nc = await nats.connect(options.nats)
    gateway = Gateway(nc)
    await gateway.start()
    server = Server(gateway, address="127.0.0.1", port=options.port, interface=Interfaces.ASGINL)
    serving = asyncio.create_task(server.serve())
    await _until_signalled()
    server.stop()  # type: ignore[no-untyped-call]
    await asyncio.wait_for(serving, 5)
    await nc.close()


async def run_worker(options: argparse.Namespace) -> None:
    """Answer calls with the emulator's incidents until signalled."""
    url = f"{options.upstream}/api/v3/incidents?limit=50"
    async with aiohttp.ClientSession() as http:
        nc = await nats.connect(options.nats)

        running: set[asyncio.Task[None]] = set()

        async def serve(msg: Any) -> None:
            async with http.get(url) as response:
                text = await response.text()
            result = {"content": [{"type": "text", "text": text}]}
            await nc.publish(msg.reply, msgspec.json.encode(result))

        async def on_call(msg: Any) -> None:
            # One task per call, as ours: a subscription's callback runs one message at a time.
            task = asyncio.create_task(serve(msg))
            running.add(task)
            task.add_done_callback(running.discard)

        await nc.subscribe(SUBJECT, queue="floor", cb=on_call)
        await nc.flush()
        print(READY, flush=True)
        await _until_signalled()
        await nc.drain()


def main() -> None:
    """Run the gateway or the worker."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", choices=("gateway", "worker"))
    parser.add_argument("--nats", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", default="")
    options = parser.parse_args()
    uvloop.run(run_gateway(options) if options.role == "gateway" else run_worker(options))


if __name__ == "__main__":
    main()
