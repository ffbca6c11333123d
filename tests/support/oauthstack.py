"""Two gateway replicas with OAuth client metadata documents allowed from 127.0.0.1, beside the
session's :func:`~tests.support.stack.mcp_stack` (same NATS, Valkey, prefix and worker), and an
HTTPS server on 127.0.0.1 (:mod:`tests.support.tls`) whose CA the gateways trust, to serve CIMD
documents. Plus a headless person: :func:`consent` opens the consent page of an authorization
URL and posts the form with an API token, the way a browser would.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import subprocess
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from nats.aio.client import Client as Nats

from stackmcp.contracts.grants import Grant
from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.subjects import Subjects
from stackmcp.embedded import free_port
from tests.support.grants import mint_api_token, mint_grant
from tests.support.stack import McpStack, spawn_service, wait_ready
from tests.support.streams import terminate
from tests.support.tls import TlsServer, running_tls_server

LOOPBACK_REDIRECT = "http://127.0.0.1:33418/callback"
"""The redirect URI test clients register (loopback: any port is accepted later)."""


@dataclass
class OAuthStack:
    """The OAuth-enabled replicas and what they share with the session stack."""

    stack: McpStack
    gateways: list[str]
    tls: TlsServer

    @property
    def keys(self) -> RedisKeys:
        """Redis key names."""
        return self.stack.keys

    @property
    def subjects(self) -> Subjects:
        """NATS subjects."""
        return self.stack.subjects

    def url(self, token: str, replica: int = 0) -> str:
        """The MCP URL of ``token`` on one replica."""
        return f"{self.gateways[replica]}/mcp/{token}"

    def redis(self) -> aioredis.Redis:
        """A new Redis client (close it with ``aclose``)."""
        return self.stack.redis()

    async def nats(self) -> Nats:
        """A new NATS connection (close it)."""
        nc = Nats()
        await nc.connect(self.stack.nats_url)
        return nc

    async def mint(self, *, require: bool = True, **policy: Any) -> tuple[str, Grant]:
        """A new MCP server on the stack's account (with the second factor by default)."""
        redis = self.redis()
        try:
            return await mint_grant(
                redis,
                self.keys,
                account_id=self.stack.account_id,
                require_api_token_auth=require,
                methods=policy.pop("methods", ("read",)),
                tags=policy.pop("tags", ("incidents",)),
                **policy,
            )
        finally:
            await redis.aclose()

    async def api_token(self) -> str:
        """A new API token."""
        redis = self.redis()
        try:
            return await mint_api_token(redis, self.keys)
        finally:
            await redis.aclose()


@pytest.fixture(scope="module")
def oauth_stack(
    mcp_stack: McpStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OAuthStack]:
    """Two more gateway replicas on the session stack, allowed to fetch CIMD from loopback."""
    directory = tmp_path_factory.mktemp("oauth-stack")
    with running_tls_server(directory) as tls:
        env = {
            **mcp_stack.env,
            "STACKMCP_GATEWAY_OAUTH_ALLOW_LOOPBACK_CLIENTS": "true",
            "SSL_CERT_FILE": str(tls.ca_file),
        }
        processes: list[subprocess.Popen[str]] = []
        try:
            gateways = []
            for replica in range(2):
                port = free_port()
                log = directory / f"gateway-{replica}.log"
                proc = spawn_service(
                    "stackmcp.gateway", {**env, "STACKMCP_GATEWAY_PORT": str(port)}, log
                )
                processes.append(proc)
                gateways.append((f"http://127.0.0.1:{port}", proc, log))
            for url, proc, log in gateways:
                wait_ready(url, proc, log)
            yield OAuthStack(stack=mcp_stack, gateways=[url for url, _, _ in gateways], tls=tls)
        finally:
            for proc in processes:
                terminate(proc)


# --------------------------------------------------------------------------- a headless person


_REQUEST_ID = re.compile(r'name="request_id" value="([^"]+)"')


@dataclass(frozen=True)
class Decision:
    """The consent page's answer: where it sends the browser, or the page it shows."""

    response: httpx.Response

    @property
    def params(self) -> dict[str, str]:
        """The query parameters of the redirect (code or error, state, iss)."""
        location = self.response.headers["location"]
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


async def open_consent(http: httpx.AsyncClient, authorization_url: str) -> httpx.Response:
    """GET the authorization URL as a browser would (no redirects followed)."""
    return await http.get(authorization_url, follow_redirects=False)


def request_id_of(page: httpx.Response) -> str:
    """The consent form's id."""
    found = _REQUEST_ID.search(page.text)
    assert found, page.text[:2000]
    return found.group(1)


async def post_consent(
    http: httpx.AsyncClient,
    base: str,
    request_id: str,
    api_token: str,
    decision: str = "allow",
    headers: dict[str, str] | None = None,
) -> Decision:
    """POST the consent form."""
    response = await http.post(
        f"{base}/oauth/authorize",
        data={"request_id": request_id, "api_token": api_token, "decision": decision},
        headers={"Origin": base, **(headers or {})},
        follow_redirects=False,
    )
    return Decision(response)


async def consent(
    http: httpx.AsyncClient, authorization_url: str, api_token: str, decision: str = "allow"
) -> Decision:
    """Open the consent page and answer it."""
    page = await open_consent(http, authorization_url)
    assert page.status_code == 200, page.text[:2000]
    parts = urllib.parse.urlsplit(authorization_url)
    base = f"{parts.scheme}://{parts.netloc}"
    return await post_consent(http, base, request_id_of(page), api_token, decision)


# --------------------------------------------------------------------------- a hand-made client


def pkce() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def register(
    http: httpx.AsyncClient, base: str, redirect_uris: list[str] | None = None
) -> str:
    """Register a public client (DCR); returns its id."""
    answer = await http.post(
        f"{base}/oauth/register",
        json={
            "client_name": "stackmcp tests",
            "redirect_uris": redirect_uris or [LOOPBACK_REDIRECT],
        },
    )
    assert answer.status_code == 201, answer.text
    client_id: str = answer.json()["client_id"]
    return client_id


def authorization_url(base: str, **params: str | None) -> str:
    """``<base>/oauth/authorize`` with ``params`` (``None`` values left out)."""
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return f"{base}/oauth/authorize?{query}"


__all__ = [
    "LOOPBACK_REDIRECT",
    "Decision",
    "OAuthStack",
    "authorization_url",
    "consent",
    "oauth_stack",
    "open_consent",
    "pkce",
    "post_consent",
    "register",
    "request_id_of",
]
