"""OAuth building blocks on a real Valkey: single-use codes and refresh tokens under concurrency,
family revocation, redirect URI rules, the challenge header."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from stackmcp.contracts.keys import RedisKeys
from stackmcp.contracts.tokens import hash_token
from stackmcp.gateway.grants import API_TOKEN_NOT_ACCEPTED, API_TOKEN_REQUIRED
from stackmcp.gateway.oauth.clients import RedirectPolicy
from stackmcp.gateway.oauth.errors import OAuthError
from stackmcp.gateway.oauth.flow import redirect_url, s256
from stackmcp.gateway.oauth.guard import challenge
from stackmcp.gateway.oauth.metadata import url_token_of
from stackmcp.gateway.oauth.store import Binding, CodeGrant, OAuthStore
from stackmcp.runtime.errors import Unauthenticated

pytestmark = pytest.mark.integration

BASE = "https://mcp.example.com"


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[OAuthStore]:
    """An OAuth store on a flushed Valkey."""
    redis = aioredis.Redis.from_url(redis_url)
    try:
        yield OAuthStore(redis, RedisKeys("oauthtest"))
    finally:
        await redis.aclose()


def code_grant(store: OAuthStore, family: str = "fam1") -> CodeGrant:
    """A code binding valid for a minute."""
    return CodeGrant(
        client_id="smcp_ocl_x",
        redirect_uri="http://127.0.0.1/cb",
        redirect_given=True,
        code_challenge=s256("v" * 43),
        url_token_hash="u" * 64,
        server_id="srv_1",
        api_token_hash="a" * 64,
        family=family,
        expires=store.clock() + 60,
    )


def binding(family: str = "fam2") -> Binding:
    """A token binding."""
    return Binding(
        server_id="srv_1",
        url_token_hash="u" * 64,
        api_token_hash="a" * 64,
        client_id="smcp_ocl_x",
        family=family,
        expires=0.0,
    )


async def test_a_code_is_redeemed_once_under_concurrency(store: OAuthStore) -> None:
    """Ten concurrent redemptions: one wins, nine are told the code was used."""
    code = await store.issue_code(code_grant(store), 60)
    results = await asyncio.gather(
        *(store.redeem_code(code) for _ in range(10)), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, CodeGrant)]
    lost = [r for r in results if isinstance(r, OAuthError)]
    assert len(won) == 1
    assert len(lost) == 9
    assert all(e.error == "invalid_grant" for e in lost)


async def test_refresh_rotation_and_reuse_ends_the_family(store: OAuthStore) -> None:
    """A refresh token is spent once; spending it again deletes the family, so every token of
    that sign-in (access and the newest refresh) is dead."""
    access, refresh = await store.issue_tokens(binding(), 3600, 86400)
    assert await store.access(hash_token(access)) is not None
    spent = await store.rotate_refresh(refresh)
    new_access, new_refresh = await store.issue_tokens(spent, 3600, 86400)
    with pytest.raises(OAuthError, match="already used"):
        await store.rotate_refresh(refresh)
    assert await store.access(hash_token(new_access)) is None
    with pytest.raises(OAuthError):
        await store.rotate_refresh(new_refresh)
    with pytest.raises(OAuthError):
        await store.rotate_refresh("smcp_ort_" + "n" * 43)


def test_redirect_uris_match_exactly_except_a_loopback_port() -> None:
    """Claude callbacks and operator URIs exactly; loopback on any port, same path."""
    policy = RedirectPolicy(("https://app.example/cb",))
    assert policy.allowed("https://claude.ai/api/mcp/auth_callback")
    assert policy.allowed("https://claude.com/api/mcp/auth_callback")
    assert policy.allowed("https://app.example/cb")
    assert not policy.allowed("https://app.example/cb/")
    assert not policy.allowed("https://claude.ai/api/mcp/auth_callback?x=1")
    assert not policy.allowed("https://evil.example/cb")
    assert not policy.allowed("http://10.0.0.1/cb")
    assert not policy.allowed("https://127.0.0.1/cb")  # loopback is http only (RFC 8252)
    registered = ("http://127.0.0.1:3000/callback",)
    assert policy.matches(registered, "http://127.0.0.1:49152/callback")
    assert not policy.matches(registered, "http://127.0.0.1:3000/other")
    assert not policy.matches(registered, "http://localhost:3000/callback")
    assert policy.matches(("http://[::1]/cb",), "http://[::1]:8000/cb")


def test_resource_must_be_the_canonical_mcp_url() -> None:
    """Only ``<base>/mcp/<token>`` names a resource."""
    assert url_token_of(BASE, f"{BASE}/mcp/smcp_srv_abc") == "smcp_srv_abc"
    for other in (
        f"{BASE}/mcp/smcp_srv_abc/sse",
        f"{BASE}/mcp/smcp_srv_abc?x",
        f"{BASE}/mcp/",
        "https://other.example/mcp/smcp_srv_abc",
        f"{BASE}/other/smcp_srv_abc",
    ):
        assert url_token_of(BASE, other) is None, other


def test_challenge_and_redirects() -> None:
    """``resource_metadata`` always; ``error`` only for a refused credential; header-safe text;
    redirect parameters added to an existing query."""
    plain = challenge(BASE, "smcp_srv_t", Unauthenticated(API_TOKEN_REQUIRED))
    prm = f"{BASE}/.well-known/oauth-protected-resource/mcp/smcp_srv_t"
    assert plain == {"WWW-Authenticate": f'Bearer resource_metadata="{prm}"'}
    refused = challenge(BASE, "smcp_srv_t", Unauthenticated('bad "x" … é'))
    value = refused["WWW-Authenticate"]
    assert value.startswith(f'Bearer resource_metadata="{prm}", error="invalid_token"')
    assert value.isascii()
    assert "error_description=\"bad 'x' ... '\"" in value
    assert (
        "error="
        in challenge(BASE, "t", Unauthenticated(API_TOKEN_NOT_ACCEPTED))["WWW-Authenticate"]
    )
    url = redirect_url("http://127.0.0.1:1/cb?a=1", {"code": "c", "state": None, "iss": BASE})
    assert url == "http://127.0.0.1:1/cb?a=1&code=c&iss=https%3A%2F%2Fmcp.example.com"
