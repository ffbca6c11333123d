"""The OAuth sign-in end to end with the official SDK's OAuth client (``OAuthClientProvider``):
discovery from the 401, dynamic registration or a client metadata document, the consent page
answered headlessly with the API token, tokens, ``tools/list`` and a call, a refresh, and then
the server or the API token revoked — refused within a second on both gateway replicas.

Servers and API tokens are created and revoked through provisioning's admin API (the real
process, on the same NATS and Valkey as the gateways)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl

from tests.support.oauthstack import LOOPBACK_REDIRECT, OAuthStack, consent, oauth_stack
from tests.support.provisioning import Provisioning
from tests.support.tls import Document

__all__ = ["oauth_stack"]

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TOOL = "list_all_better_stack_incidents"
REFUSED_WITHIN = 1.0


@dataclass
class Storage:
    """The SDK's token storage, in memory (the test reads what it holds)."""

    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None
    issued: list[OAuthToken] = field(default_factory=list)

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.issued.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Person:
    """Answers the consent page headlessly: the SDK's redirect handler hands it the
    authorization URL; the callback handler returns what the redirect carried."""

    api_token: str
    answers: list[dict[str, str]] = field(default_factory=list)
    pages: int = 0

    async def redirect(self, authorization_url: str) -> None:
        async with httpx.AsyncClient(timeout=20) as http:
            decision = await consent(http, authorization_url, self.api_token)
        assert decision.response.status_code == 303, decision.response.text
        assert decision.response.headers["location"].startswith(LOOPBACK_REDIRECT)
        self.pages += 1
        self.answers.append(decision.params)

    async def callback(self) -> AuthorizationCodeResult:
        params = self.answers[-1]
        return AuthorizationCodeResult(
            code=params["code"], state=params["state"], iss=params["iss"]
        )


def provider(
    url: str, storage: Storage, person: Person, client_metadata_url: str | None = None
) -> OAuthClientProvider:
    """The SDK's OAuth client for ``url``."""
    metadata = OAuthClientMetadata(
        client_name="stackmcp e2e",
        redirect_uris=[AnyUrl(LOOPBACK_REDIRECT)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        server_url=url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=person.redirect,
        callback_handler=person.callback,
        client_metadata_url=client_metadata_url,
    )


@asynccontextmanager
async def connected(url: str, auth: OAuthClientProvider) -> AsyncIterator[Client]:
    """An SDK client on ``url`` whose HTTP client signs in through ``auth``."""
    async with (
        httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30, read=60)) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        yield client


async def list_and_call(client: Client) -> None:
    """The signed-in client lists the server's tools and calls one."""
    listed = await client.list_tools()
    assert TOOL in [t.name for t in listed.tools]
    result = await client.call_tool(TOOL, {"resolved": False, "limit": 5})
    assert not result.is_error, result.content


async def status_with(http: httpx.AsyncClient, url: str, access_token: str) -> int:
    """The status of a stateless ``initialize`` carrying ``access_token``."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"},
        },
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {access_token}",
    }
    return (await http.post(url, json=body, headers=headers)).status_code


async def refused_within(
    check: Callable[[], Awaitable[bool]], seconds: float = REFUSED_WITHIN
) -> float:
    """Poll ``check`` until true; fail after ``seconds``. Returns the time it took."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, f"still accepted after {seconds}s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def sign_in_and_use(
    stack: OAuthStack, token: str, api_token: str, client_metadata_url: str | None = None
) -> tuple[Storage, Person]:
    """The SDK signs in (discovery → registration or CIMD → consent → tokens), lists and
    calls; then its access token is forced stale, so the next call refreshes."""
    url = stack.url(token)
    storage, person = Storage(), Person(api_token)
    auth = provider(url, storage, person, client_metadata_url)
    async with connected(url, auth) as client:
        await list_and_call(client)
    assert person.pages == 1
    assert storage.tokens is not None
    assert storage.client_info is not None
    first = storage.tokens
    auth.context.token_expiry_time = time.time() - 1  # as if an hour had passed
    async with connected(url, auth) as client:
        await list_and_call(client)
    assert person.pages == 1, "a refresh, not a second consent"
    assert storage.tokens.access_token != first.access_token
    assert storage.tokens.refresh_token != first.refresh_token
    return storage, person


def create_server(provisioning: Provisioning, name: str) -> tuple[str, str]:
    """A server with the second factor, created through the admin API: ``(url token, id)``."""
    body = {
        "name": name,
        "config": {"methods": ["read"], "tags": ["incidents"], "require_api_token_auth": True},
    }
    with provisioning.client() as admin:
        answer = admin.post(f"/integrated-account/{provisioning.account_id}/mcp", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return str(created["url"]).rsplit("/", 1)[1], str(created["id"])


def create_api_token(provisioning: Provisioning) -> tuple[str, str]:
    """An API token created through the admin API: ``(token, id)``."""
    with provisioning.client() as admin:
        answer = admin.post("/api-token", json={"name": f"oauth-e2e-{time.monotonic_ns()}"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"]), str(answer.json()["id"])


async def test_sdk_signs_in_with_dcr_and_dies_with_the_server(
    oauth_stack: OAuthStack, provisioning: Provisioning
) -> None:
    """DCR flow, refresh, then the server is revoked: refused within 1 s on both replicas."""
    token, server_id = create_server(provisioning, "e2e dcr")
    api_token, _ = create_api_token(provisioning)
    storage, _ = await sign_in_and_use(oauth_stack, token, api_token)
    assert storage.client_info is not None
    assert storage.client_info.client_id.startswith("smcp_ocl_")
    assert storage.tokens is not None
    access = storage.tokens.access_token
    async with httpx.AsyncClient(timeout=10) as http:
        for replica in (0, 1):
            assert await status_with(http, oauth_stack.url(token, replica), access) == 200
        with provisioning.client() as admin:
            path = f"/integrated-account/{provisioning.account_id}/mcp/{server_id}"
            assert admin.delete(path).status_code == 204

        async def refused_everywhere() -> bool:
            statuses = [await status_with(http, oauth_stack.url(token, r), access) for r in (0, 1)]
            return all(status == 404 for status in statuses)

        await refused_within(refused_everywhere)
        refresh = await http.post(
            f"{oauth_stack.gateways[0]}/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": storage.tokens.refresh_token or "",
                "client_id": storage.client_info.client_id,
            },
        )
        assert refresh.json()["error"] == "invalid_grant"


async def test_sdk_signs_in_with_cimd_and_dies_with_the_api_token(
    oauth_stack: OAuthStack, provisioning: Provisioning
) -> None:
    """CIMD flow (the client id is an https URL the gateway fetches), refresh, then the API
    token entered at consent is revoked: refused within 1 s on both replicas."""
    tls = oauth_stack.tls
    client_id = tls.url("/stackmcp-e2e/client.json")
    tls.serve(
        "/stackmcp-e2e/client.json",
        Document.json(
            {
                "client_id": client_id,
                "client_name": "stackmcp e2e (CIMD)",
                "redirect_uris": [LOOPBACK_REDIRECT],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
            }
        ),
    )
    token, _ = create_server(provisioning, "e2e cimd")
    api_token, api_token_id = create_api_token(provisioning)
    storage, _ = await sign_in_and_use(oauth_stack, token, api_token, client_id)
    assert storage.client_info is not None
    assert storage.client_info.client_id == client_id
    assert tls.seen("/stackmcp-e2e/client.json"), "the gateway fetched the document"
    assert storage.tokens is not None
    access = storage.tokens.access_token
    async with httpx.AsyncClient(timeout=10) as http:
        for replica in (0, 1):
            assert await status_with(http, oauth_stack.url(token, replica), access) == 200
        with provisioning.client() as admin:
            assert admin.delete(f"/api-token/{api_token_id}").status_code == 204

        async def refused_everywhere() -> bool:
            statuses = [await status_with(http, oauth_stack.url(token, r), access) for r in (0, 1)]
            return all(status == 401 for status in statuses)

        await refused_within(refused_everywhere)
        direct = await http.post(
            oauth_stack.url(token, 1),
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Accept": "application/json", "x-api-key": api_token},
        )
        assert direct.status_code == 401
        assert storage.client_info is not None
        refresh = await http.post(
            f"{oauth_stack.gateways[0]}/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": storage.tokens.refresh_token or "",
                "client_id": storage.client_info.client_id,
            },
        )
        assert refresh.json()["error"] == "invalid_grant"


async def test_the_sdk_client_finds_everything_from_the_401(oauth_stack: OAuthStack) -> None:
    """What the SDK asked for, in order: the MCP URL (401), the PRM named in the challenge, the
    AS metadata, registration, the token endpoint — no guessing at other paths."""
    token, _ = await oauth_stack.mint(name="e2e discovery")
    api_token = await oauth_stack.api_token()
    seen: list[str] = []

    async def record(request: httpx2.Request) -> None:
        seen.append(f"{request.method} {request.url.path}")

    url = oauth_stack.url(token)
    storage, person = Storage(), Person(api_token)
    auth = provider(url, storage, person)
    async with (
        httpx2.AsyncClient(
            auth=auth, timeout=httpx2.Timeout(30, read=60), event_hooks={"request": [record]}
        ) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        await list_and_call(client)
    path = f"/mcp/{token}"
    assert seen[:5] == [
        f"POST {path}",
        f"GET /.well-known/oauth-protected-resource{path}",
        "GET /.well-known/oauth-authorization-server",
        "POST /oauth/register",
        "POST /oauth/token",
    ], seen
    assert seen[5] == f"POST {path}"
