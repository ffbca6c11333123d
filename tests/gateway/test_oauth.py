"""The OAuth authorization server against real gateway replicas (NATS, Valkey, worker): discovery,
registration, consent, tokens, and every refusal a stranger or a stale client can meet."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from stackmcp.contracts import utcnow
from tests.support.metrics import sample, samples
from tests.support.oauthstack import (
    LOOPBACK_REDIRECT,
    OAuthStack,
    authorization_url,
    consent,
    oauth_stack,
    open_consent,
    pkce,
    post_consent,
    register,
    request_id_of,
)
from tests.support.tls import Document

__all__ = ["oauth_stack"]

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ACCEPT = "application/json, text/event-stream"
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
DISCOVER_HEADERS = {"Accept": ACCEPT, "Mcp-Protocol-Version": "2025-11-25"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client."""
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


@dataclass
class SignIn:
    """A completed sign-in by hand: the server, the client and its tokens."""

    url_token: str
    api_token: str
    client_id: str
    tokens: dict[str, Any]


async def list_tools(http: httpx.AsyncClient, url: str, **headers: str) -> httpx.Response:
    """``tools/list`` on the 2025-11-25 era without a session (stateless enough for a probe)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": _init()}
    return await http.post(url, json=body, headers={"Accept": ACCEPT, **headers})


def _init() -> dict[str, Any]:
    return {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "oauth-tests", "version": "1"},
    }


async def code_for(
    http: httpx.AsyncClient,
    base: str,
    url_token: str,
    api_token: str,
    client_id: str,
    challenge: str,
    redirect_uri: str = LOOPBACK_REDIRECT,
) -> str:
    """Consent by hand; returns the code."""
    url = authorization_url(
        base,
        response_type="code",
        client_id=client_id,
        redirect_uri=redirect_uri,
        state="st-1",
        code_challenge=challenge,
        code_challenge_method="S256",
        resource=f"{base}/mcp/{url_token}",
    )
    decision = await consent(http, url, api_token)
    assert decision.response.status_code == 303, decision.response.text
    params = decision.params
    assert params["state"] == "st-1"
    assert params["iss"] == base
    return params["code"]


async def exchange(http: httpx.AsyncClient, base: str, **form: str) -> httpx.Response:
    """POST the token endpoint."""
    return await http.post(f"{base}/oauth/token", data=form)


async def sign_in(http: httpx.AsyncClient, stack: OAuthStack, **policy: Any) -> SignIn:
    """Mint a server and an API token, register, consent and exchange the code."""
    url_token, _ = await stack.mint(**policy)
    api_token = await stack.api_token()
    base = stack.gateways[0]
    client_id = await register(http, base)
    verifier, challenge = pkce()
    code = await code_for(http, base, url_token, api_token, client_id, challenge)
    answer = await exchange(
        http,
        base,
        grant_type="authorization_code",
        code=code,
        code_verifier=verifier,
        client_id=client_id,
        redirect_uri=LOOPBACK_REDIRECT,
        resource=f"{base}/mcp/{url_token}",
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return SignIn(url_token, api_token, client_id, answer.json())


def bearer(token: str) -> dict[str, str]:
    """An ``Authorization`` header."""
    return {"Authorization": f"Bearer {token}"}


# --------------------------------------------------------------------------- discovery


async def test_every_401_names_the_resource_metadata(
    oauth_stack: OAuthStack, http: httpx.AsyncClient
) -> None:
    """No credential: 401 with ``resource_metadata`` and no ``error``; a bad one: also
    ``error="invalid_token"``; the body tells a person what to do; PRM and AS metadata follow."""
    url_token, grant = await oauth_stack.mint()
    base = oauth_stack.gateways[0]
    missing = await list_tools(http, oauth_stack.url(url_token))
    assert missing.status_code == 401
    challenge = missing.headers["www-authenticate"]
    prm = f"{base}/.well-known/oauth-protected-resource/mcp/{url_token}"
    assert challenge == f'Bearer resource_metadata="{prm}"'
    message = missing.json()["error"]["message"]
    assert "OAuth" in message
    assert "x-api-key" in message
    assert "Authorization: Bearer" in message
    for credential in ("smcp_oat_" + "x" * 43, "smcp_api_" + "a" * 43, "nonsense"):
        bad = await list_tools(http, oauth_stack.url(url_token), **bearer(credential))
        assert bad.status_code == 401
        assert f'resource_metadata="{prm}"' in bad.headers["www-authenticate"]
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    for path in ("/sse", "/messages?session_id=x"):
        method = http.get if path == "/sse" else http.post
        other = await method(oauth_stack.url(url_token) + path)
        assert other.status_code == 401
        assert other.headers["www-authenticate"] == f'Bearer resource_metadata="{prm}"'
    bad_key = await list_tools(http, oauth_stack.url(url_token), **{"x-api-key": "nope"})
    assert bad_key.status_code == 401
    assert 'error="invalid_token"' in bad_key.headers["www-authenticate"]

    for suffix in ("", "/mcp", "/sse"):
        document = await http.get(prm + suffix)
        assert document.status_code == 200
        assert document.json() == {
            "resource": f"{base}/mcp/{url_token}",
            "authorization_servers": [base],
            "bearer_methods_supported": ["header"],
            "resource_name": grant.name,
        }
    metadata = (await http.get(f"{base}/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == base
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["token_endpoint_auth_methods_supported"] == ["none"]
    assert metadata["registration_endpoint"] == f"{base}/oauth/register"


async def test_a_server_without_the_second_factor_never_answers_401(
    oauth_stack: OAuthStack, http: httpx.AsyncClient
) -> None:
    """No PRM (404), and a bad bearer token or API key is ignored, not refused."""
    url_token, _ = await oauth_stack.mint(require=False)
    prm = f"{oauth_stack.gateways[0]}/.well-known/oauth-protected-resource/mcp/{url_token}"
    assert (await http.get(prm)).status_code == 404
    for headers in ({}, bearer("smcp_oat_" + "x" * 43), bearer("junk"), {"x-api-key": "junk"}):
        answer = await list_tools(http, oauth_stack.url(url_token), **headers)
        assert answer.status_code == 200, answer.text
    unknown = (
        f"{oauth_stack.gateways[0]}/.well-known/oauth-protected-resource/mcp/smcp_srv_{'b' * 43}"
    )
    assert (await http.get(unknown)).status_code == 404


async def test_x_api_key_and_bearer_api_token_are_accepted(
    oauth_stack: OAuthStack, http: httpx.AsyncClient
) -> None:
    """The API token works as ``x-api-key`` and as ``Authorization: Bearer``."""
    url_token, _ = await oauth_stack.mint()
    api_token = await oauth_stack.api_token()
    for headers in ({"x-api-key": api_token}, bearer(api_token)):
        answer = await list_tools(http, oauth_stack.url(url_token, 1), **headers)
        assert answer.status_code == 200, answer.text


# --------------------------------------------------------------------------- tokens


async def test_access_token_works_on_both_replicas_and_only_for_its_url(
    oauth_stack: OAuthStack, http: httpx.AsyncClient
) -> None:
    """Signed in on replica 0: the access token works on both replicas; at another MCP URL it is
    refused, even one that requires the second factor and shares the API token."""
    signed = await sign_in(http, oauth_stack)
    access = signed.tokens["access_token"]
    assert access.startswith("smcp_oat_")
    assert signed.tokens["refresh_token"].startswith("smcp_ort_")
    assert 0 < signed.tokens["expires_in"] <= 3600
    for replica in (0, 1):
        answer = await list_tools(
            http, oauth_stack.url(signed.url_token, replica), **bearer(access)
        )
        assert answer.status_code == 200, answer.text
    other, _ = await oauth_stack.mint()
    refused = await list_tools(http, oauth_stack.url(other), **bearer(access))
    assert refused.status_code == 401
    assert "another MCP URL" in refused.json()["error"]["message"]
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


async def test_code_reuse_is_refused_and_ends_the_sign_in(
    oauth_stack: OAuthStack, http: httpx.AsyncClient
) -> None:
    """A code works once; presenting it again is ``invalid_grant`` and ends what it issued."""
    url_token, _ = await oauth_stack.mint()
    api_token = await oauth_stack.api_token()
    base = oauth_stack.gateways[0]
    client_id = await register(http, base)
    verifier, challenge = pkce()
    code = await code_for(http, base, url_token, api_token, client_id, challenge)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "client_id": client_id,
        "redirect_uri": LOOPBACK_REDIRECT,
    }
    first = await exchange(http, base, **form)
    assert first.status_code == 200
    again = await exchange(http, base, **form)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert again.headers["cache-control"] == "no-store"
    refresh = await exchange(
        http,
        base,
        grant_type="refresh_token",
        refresh_token=first.json()["refresh_token"],
        client_id=client_id,
    )
    assert refresh.json()["error"] == "invalid_grant"
    unused = await list_tools(
        http, oauth_stack.url(url_token, 1), **bearer(first.json()["access_token"])
    )
    assert unused.status_code == 401


async def test_refresh_rotates_and_reuse_ends_the_family(
    oauth_stack: OAuthStack, http: httpx.AsyncClient
) -> None:
    """Each refresh returns a new pair; the old refresh token is dead, and presenting it again
    ends the whole family (the newest refresh token too)."""
    signed = await sign_in(http, oauth_stack)
    base = oauth_stack.gateways[0]
    old = signed.tokens["refresh_token"]
    rotated = await exchange(
        http, base, grant_type="refresh_token", refresh_token=old, client_id=signed.client_id
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    new = rotated.json()
    assert new["refresh_token"] != old
    assert new["access_token"] != signed.tokens["access_token"]
    ok = await list_tools(http, oauth_stack.url(signed.url_token, 0), **bearer(new["access_token"]))
    assert ok.status_code == 200
    reused = await exchange(
        http, base, grant_type="refresh_token", refresh_token=old, client_id=signed.client_id
    )
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    newest = await exchange(
        http,
        base,
        grant_type="refresh_token",
        refresh_token=new["refresh_token"],
        client_id=signed.client_id,
    )
    assert newest.json()["error"] == "invalid_grant"
    # Replica 1 never cached the new access token: the family's end reaches it at once.
    dead = await list_tools(
        http, oauth_stack.url(signed.url_token, 1), **bearer(new["access_token"])
    )
    assert dead.status_code == 401


async def test_token_endpoint_errors(oauth_stack: OAuthStack, http: httpx.AsyncClient) -> None:
    """RFC 6749 errors: unsupported grant type, missing parameters, unknown client (401),
    PKCE mismatch, redirect mismatch, another client, another resource."""
    url_token, _ = await oauth_stack.mint()
    api_token = await oauth_stack.api_token()
    base = oauth_stack.gateways[0]
    client_id = await register(http, base)

    async def fresh_code() -> tuple[str, str]:
        verifier, challenge = pkce()
        return await code_for(http, base, url_token, api_token, client_id, challenge), verifier

    unsupported = await exchange(http, base, grant_type="password", client_id=client_id)
    assert (unsupported.status_code, unsupported.json()["error"]) == (400, "unsupported_grant_type")
    missing = await exchange(http, base, client_id=client_id)
    assert missing.json()["error"] == "invalid_request"
    unknown = await exchange(
        http, base, grant_type="refresh_token", refresh_token="x", client_id="smcp_ocl_" + "z" * 32
    )
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")
    assert unknown.headers["cache-control"] == "no-store"

    cases: list[tuple[dict[str, str], str]] = [
        ({"code_verifier": pkce()[0]}, "invalid_grant"),
        ({"redirect_uri": "http://127.0.0.1:9/other"}, "invalid_grant"),
        ({"client_id": await register(http, base)}, "invalid_grant"),
        ({"resource": f"{base}/mcp/{(await oauth_stack.mint())[0]}"}, "invalid_target"),
    ]
    for change, error in cases:
        code, verifier = await fresh_code()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "client_id": client_id,
            "redirect_uri": LOOPBACK_REDIRECT,
            **change,
        }
        answer = await exchange(http, base, **form)
        assert (answer.status_code, answer.json()["error"]) == (400, error), (change, answer.text)
    code, _ = await fresh_code()
    no_verifier = await exchange(
        http,
        base,
        grant_type="authorization_code",
        code=code,
        client_id=client_id,
        redirect_uri=LOOPBACK_REDIRECT,
    )
    assert no_verifier.json()["error"] == "invalid_request"


# --------------------------------------------------------------------------- authorization


async def test_errors_before_the_redirect_is_trusted_stay_on_the_page(
    oauth_stack: OAuthStack, http: httpx.AsyncClient
) -> None:
    """Unknown client, unregistered redirect URI, bad or missing resource: an error page (never
    a redirect); PKCE missing or ``plain``: back to the client with ``error``, ``state``, ``iss``."""
    url_token, _ = await oauth_stack.mint()
    no_factor, _ = await oauth_stack.mint(require=False)
    base = oauth_stack.gateways[0]
    client_id = await register(http, base)
    _, challenge = pkce()
    good = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": LOOPBACK_REDIRECT,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": f"{base}/mcp/{url_token}",
    }
    pages = [
        {"client_id": "smcp_ocl_" + "q" * 32},
        {"client_id": None},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "http://127.0.0.1:33418/elsewhere"},
        {"resource": None},
        {"resource": f"{base}/mcp/{url_token}/sse"},
        {"resource": f"{base}/mcp/smcp_srv_{'c' * 43}"},
        {"resource": f"{base}/mcp/{no_factor}"},
        {"resource": f"https://elsewhere.example/mcp/{url_token}"},
    ]
    for change in pages:
        page = await open_consent(http, authorization_url(base, **{**good, **change}))
        assert page.status_code in (400, 404), (change, page.status_code)
        assert "location" not in page.headers
        assert "This sign-in cannot continue" in page.text
        assert page.headers["x-frame-options"] == "DENY"

    back = [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ]
    for change, error in back:
        answer = await open_consent(http, authorization_url(base, **{**good, **change}))
        assert answer.status_code == 303, (change, answer.text)
        location = httpx.URL(answer.headers["location"])
        assert str(location).startswith(LOOPBACK_REDIRECT)
        assert location.params["error"] == error
        assert location.params["state"] == "s"
        assert location.params["iss"] == base

    # A loopback redirect URI may use another port (RFC 8252); its path may not differ.
    other_port = {**good, "redirect_uri": "http://127.0.0.1:50123/callback"}
    page = await open_consent(http, authorization_url(base, **other_port))
    assert page.status_code == 200


async def test_consent_page_and_a_wrong_api_token(
    oauth_stack: OAuthStack, http: httpx.AsyncClient
) -> None:
    """The page shows server, account, methods, tags, tool count, expiry, client and redirect
    host, with protective headers; a wrong API token re-renders it (400) and the right one
    then works; Deny sends ``access_denied``; a form from another origin is refused."""
    expires = utcnow() + timedelta(days=2)
    url_token, grant = await oauth_stack.mint(
        name="Incident desk",
        tags=("incidents",),
        exclude_tools=("get_a_better_stack_incident",),
        expires_at=expires,
    )
    api_token = await oauth_stack.api_token()
    base = oauth_stack.gateways[0]
    client_id = await register(http, base)
    _, challenge = pkce()
    url = authorization_url(
        base,
        response_type="code",
        client_id=client_id,
        redirect_uri=LOOPBACK_REDIRECT,
        state="s2",
        code_challenge=challenge,
        code_challenge_method="S256",
        resource=f"{base}/mcp/{url_token}",
    )
    before = await oauth_counts(http, base)
    page = await open_consent(http, url)
    assert page.status_code == 200
    text = page.text
    for shown in (
        "Incident desk",
        grant.account_id,
        grant.server_id,
        "read",
        "incidents",
        "get_a_better_stack_incident",
        "stackmcp tests",
        "127.0.0.1:33418",
        expires.strftime("%Y-%m-%d"),
        'type="password"',
        "Allow",
        "Deny",
    ):
        assert shown in text, shown
    assert "Tools</dt><dd>0<" not in text
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert url_token not in text  # the MCP URL is not on the page

    request_id = request_id_of(page)
    foreign = await post_consent(
        http, base, request_id, api_token, headers={"Origin": "https://evil.example"}
    )
    assert foreign.response.status_code == 403
    wrong = await post_consent(http, base, request_id, "smcp_api_" + "w" * 43)
    assert wrong.response.status_code == 400
    assert "not accepted" in wrong.response.text
    assert "smcp_api_" + "w" * 43 not in wrong.response.text
    assert wrong.response.headers["x-frame-options"] == "DENY"
    right = await post_consent(http, base, request_id, api_token)
    assert right.response.status_code == 303
    assert right.params["code"].startswith("smcp_ocd_")
    assert right.params["iss"] == base
    twice = await post_consent(http, base, request_id, api_token)
    assert twice.response.status_code == 400  # decided once

    denied = await consent(http, url, "", decision="deny")
    assert denied.params["error"] == "access_denied"
    assert denied.params["state"] == "s2"

    after = await oauth_counts(http, base)
    grown = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    assert {key: n for key, n in grown.items() if n} == {
        ("authorize", "ok"): 2,
        ("consent", "refused"): 2,  # another origin; decided twice
        ("consent", "wrong_api_token"): 1,
        ("consent", "allowed"): 1,
        ("consent", "denied"): 1,
    }


async def oauth_counts(http: httpx.AsyncClient, base: str) -> dict[tuple[str, str], float]:
    """``stackmcp_oauth_requests_total`` of one replica, by (step, result)."""
    text = (await http.get(f"{base}/metrics")).text
    return {
        (labels["stackmcp_oauth_step"], labels["stackmcp_result"]): sample(
            text, "stackmcp_oauth_requests_total", labels
        )
        for labels in samples(text, "stackmcp_oauth_requests_total")
    }


async def test_registration_rules(oauth_stack: OAuthStack, http: httpx.AsyncClient) -> None:
    """Public clients only; redirect URIs outside the allowed set refused; body bounded."""
    base = oauth_stack.gateways[0]
    claude = await http.post(
        f"{base}/oauth/register",
        json={
            "client_name": "Claude",
            "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
            "token_endpoint_auth_method": "client_secret_post",
        },
    )
    assert claude.status_code == 201
    assert claude.json()["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in claude.json()
    assert claude.headers["cache-control"] == "no-store"
    for uris in (["https://evil.example/cb"], [], "http://127.0.0.1/cb", ["http://10.0.0.1/cb"]):
        refused = await http.post(f"{base}/oauth/register", json={"redirect_uris": uris})
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_redirect_uri"
    huge = await http.post(
        f"{base}/oauth/register",
        json={"redirect_uris": [LOOPBACK_REDIRECT], "client_name": "x" * 20_000},
    )
    assert (huge.status_code, huge.json()["error"]) == (400, "invalid_client_metadata")


# --------------------------------------------------------------------------- lifetimes


async def test_an_expired_server_refuses_sign_in_and_tokens(
    oauth_stack: OAuthStack, http: httpx.AsyncClient
) -> None:
    """Tokens never outlive the server: ``expires_in`` is capped at its expiry, and once it has
    passed the access token, the refresh token and a new sign-in are all refused."""
    signed = await sign_in(http, oauth_stack, expires_at=utcnow() + timedelta(seconds=3))
    assert signed.tokens["expires_in"] <= 3
    base = oauth_stack.gateways[0]
    url = oauth_stack.url(signed.url_token, 1)
    deadline = time.monotonic() + 10
    while (await list_tools(http, url, **bearer(signed.tokens["access_token"]))).status_code == 200:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    answer = await list_tools(http, url, **bearer(signed.tokens["access_token"]))
    assert answer.status_code in (401, 404)
    refresh = await exchange(
        http,
        base,
        grant_type="refresh_token",
        refresh_token=signed.tokens["refresh_token"],
        client_id=signed.client_id,
    )
    assert refresh.json()["error"] == "invalid_grant"
    _, challenge = pkce()
    page = await open_consent(
        http,
        authorization_url(
            base,
            response_type="code",
            client_id=signed.client_id,
            redirect_uri=LOOPBACK_REDIRECT,
            code_challenge=challenge,
            code_challenge_method="S256",
            resource=f"{base}/mcp/{signed.url_token}",
        ),
    )
    assert page.status_code == 404
    assert "This sign-in cannot continue" in page.text


# --------------------------------------------------------------------------- CIMD


async def test_cimd_client_metadata_documents(
    oauth_stack: OAuthStack, http: httpx.AsyncClient
) -> None:
    """A document over https naming itself is used; one whose client_id differs, or at a
    private address, is refused on the page."""
    base = oauth_stack.gateways[0]
    url_token, _ = await oauth_stack.mint()
    tls = oauth_stack.tls
    good = tls.url("/good-client.json")
    tls.serve(
        "/good-client.json",
        Document.json(
            {"client_id": good, "client_name": "CIMD app", "redirect_uris": [LOOPBACK_REDIRECT]}
        ),
    )
    liar = tls.url("/liar.json")
    tls.serve(
        "/liar.json", Document.json({"client_id": good, "redirect_uris": [LOOPBACK_REDIRECT]})
    )
    _, challenge = pkce()

    def url_for(client_id: str) -> str:
        return authorization_url(
            base,
            response_type="code",
            client_id=client_id,
            redirect_uri=LOOPBACK_REDIRECT,
            code_challenge=challenge,
            code_challenge_method="S256",
            resource=f"{base}/mcp/{url_token}",
        )

    page = await open_consent(http, url_for(good))
    assert page.status_code == 200
    assert "CIMD app" in page.text
    for refused in (liar, "https://10.0.0.1/client.json", "https://169.254.169.254/latest.json"):
        answer = await open_consent(http, url_for(refused))
        assert answer.status_code == 400, refused
        assert "This sign-in cannot continue" in answer.text
    # The session stack's replicas keep the default: no document from a loopback address, even
    # by a name that resolves to one.
    strict = oauth_stack.stack.gateways[0]
    local = tls.url("/good-client.json", host="localhost")
    tls.serve(
        "/good-client.json",
        Document.json({"client_id": local, "redirect_uris": [LOOPBACK_REDIRECT]}),
    )
    answer = await open_consent(
        http,
        authorization_url(
            strict,
            response_type="code",
            client_id=local,
            redirect_uri=LOOPBACK_REDIRECT,
            code_challenge=challenge,
            code_challenge_method="S256",
            resource=f"{strict}/mcp/{url_token}",
        ),
    )
    assert answer.status_code == 400
    assert "This sign-in cannot continue" in answer.text
