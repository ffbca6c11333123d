"""A real HTTPS server on 127.0.0.1 with a throwaway CA, for code that fetches over TLS.

The certificate is valid for ``127.0.0.1``, ``::1``, ``localhost`` and ``stackmcp-test.invalid``
(a name no resolver knows, for tests that inject their own resolution). Point ``SSL_CERT_FILE``
at :attr:`TlsServer.ca_file` to trust it::

    def test_fetch(tls_server, monkeypatch):
        monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca_file))
        tls_server.serve("/client.json", Document.json({"client_id": "..."}))
        ... tls_server.url("/client.json") ...

Documents can stall until released (:meth:`Document.release`; never a fixed sleep), trickle
their body a byte at a time, be chunked (no Content-Length), redirect, or be of any size.
Every request is recorded with its Host header and the SNI name the client sent.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

NAMES = ("127.0.0.1", "::1", "localhost", "stackmcp-test.invalid")
STALL_LIMIT = 60.0  # a forgotten release still lets the handler thread end


@dataclass
class Document:
    """What the server answers on one path."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    body: bytes = b"{}"
    stall: bool = False  # send nothing until released
    trickle: float | None = None  # seconds between body bytes, until released
    chunked: bool = False  # Transfer-Encoding: chunked instead of Content-Length
    released: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def json(cls, value: Any, **options: Any) -> Document:
        """A 200 ``application/json`` answer holding ``value``."""
        return cls(body=json.dumps(value).encode(), **options)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Document:
        """A redirect to ``location``."""
        return cls(status=status, headers={"Location": location}, body=b"")

    def release(self) -> None:
        """Let stalled and trickling answers finish at once."""
        self.released.set()


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    path: str
    host: str | None
    sni: str | None


class TlsServer:
    """The running server; set answers with :meth:`serve`, build URLs with :meth:`url`."""

    def __init__(self, ca_file: Path) -> None:
        self.ca_file = ca_file
        self.port = 0  # set once listening
        self.requests: list[Seen] = []
        self._documents: dict[str, Document] = {}
        self._lock = threading.Lock()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """``https://<host>:<port><path>``."""
        return f"https://{host}:{self.port}{path}"

    def serve(self, path: str, document: Document) -> Document:
        """Answer ``path`` (query excluded) with ``document`` from now on."""
        with self._lock:
            self._documents[path] = document
        return document

    def document(self, path: str) -> Document | None:
        """The document served at ``path``, if any."""
        with self._lock:
            return self._documents.get(path)

    def release_all(self) -> None:
        """Release every stalled or trickling answer."""
        with self._lock:
            documents = list(self._documents.values())
        for document in documents:
            document.release()

    def seen(self, path: str) -> list[Seen]:
        """The requests received for ``path``."""
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def record(self, request: Seen) -> None:
        """Remember a request (called by the server's handler threads)."""
        with self._lock:
            self.requests.append(request)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpsServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        sni = getattr(self.connection, "stackmcp_sni", None)
        self.server.tls.record(Seen(path=path, host=self.headers.get("Host"), sni=sni))
        document = self.server.tls.document(path)
        if document is None:
            document = Document(status=404, headers={"Content-Type": "text/plain"}, body=b"no")
        if document.stall:
            document.released.wait(STALL_LIMIT)
        self._answer(document)

    def _answer(self, document: Document) -> None:
        self.send_response(document.status)
        for name, value in document.headers.items():
            self.send_header(name, value)
        if document.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(document.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        for piece in _pieces(document):
            self.wfile.write(_chunk(piece) if document.chunked else piece)
            self.wfile.flush()
        if document.chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not access logs."""


def _chunk(piece: bytes) -> bytes:
    # An empty chunk would end the body early.
    return b"%x\r\n%s\r\n" % (len(piece), piece) if piece else b""


def _pieces(document: Document) -> Iterator[bytes]:
    if document.trickle is None:
        yield document.body
        return
    for index in range(len(document.body)):
        yield document.body[index : index + 1]
        if not document.released.is_set():
            document.released.wait(document.trickle)


class _HttpsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, context: ssl.SSLContext, tls: TlsServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.tls = tls

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs in the request's thread, so a stalled client cannot block accept().
        request.settimeout(STALL_LIMIT)
        with self.context.wrap_socket(request, server_side=True) as tls_socket:
            super().finish_request(tls_socket, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up (deadlines, refused certificates) break connections on purpose.
        pass


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*NAMES).configure_cert(context)

    def remember_sni(tls_socket: Any, name: str | None, _context: ssl.SSLContext) -> None:
        tls_socket.stackmcp_sni = name

    context.sni_callback = remember_sni
    return context


@contextlib.contextmanager
def running_tls_server(directory: Path) -> Iterator[TlsServer]:
    """Run an HTTPS server (CA bundle written into ``directory``) until the block ends."""
    ca = trustme.CA()
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    tls = TlsServer(ca_file)
    server = _HttpsServer(_server_context(ca), tls)
    tls.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="tls-server", daemon=True
    )
    thread.start()
    try:
        yield tls
    finally:
        tls.release_all()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (for connection-refused tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """An HTTPS server shared by a test module; trust it with ``SSL_CERT_FILE=.ca_file``."""
    with running_tls_server(tmp_path_factory.mktemp("tls")) as server:
        yield server
