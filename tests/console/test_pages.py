"""The console over plain HTTP against a real provisioning process: what a browser is sent
(headers, redirects, status codes) and the edges the browser tests do not reach."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from markupsafe import escape

from stackmcp.provisioning.clientconfig import client_config
from tests.support.provisioning import Provisioning, start_provisioning
from tests.support.streams import terminate

pytestmark = pytest.mark.e2e

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


@contextmanager
def sign_in(url: str, admin_token: str) -> Iterator[httpx.Client]:
    """A client signed in through the sign-in form (cookies kept, redirects not followed)."""
    with httpx.Client(base_url=url, timeout=15) as client:
        form = client.get("/console/sign-in")
        answer = client.post(
            "/console/sign-in",
            data={"csrf_token": csrf_of(form), "admin_token": admin_token, "next_path": ""},
        )
        assert answer.status_code == 303, answer.text
        yield client


@pytest.fixture
def console(provisioning: Provisioning) -> Iterator[httpx.Client]:
    """A signed-in console client."""
    with sign_in(provisioning.url, provisioning.admin_token) as client:
        yield client


def test_pages_carry_security_headers(console: httpx.Client) -> None:
    """Own scripts only, never framed, never cached, no referrer, no sniffing."""
    page = console.get("/console/accounts")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in re.sub(r'(href|src|action)="/', "", page.text.split("<main")[0])


def test_signed_out_requests_are_sent_to_sign_in_or_refused(provisioning: Provisioning) -> None:
    """Pages redirect to sign-in (remembering where to return); posts and the preview are 401."""
    with httpx.Client(base_url=provisioning.url, timeout=15) as client:
        home = client.get("/")
        assert (home.status_code, home.headers["location"]) == (303, "/console/")
        page = client.get(f"/console/accounts/{provisioning.account_id}")
        assert page.status_code == 303
        assert page.headers["location"] == (
            f"/console/sign-in?next_path=%2Fconsole%2Faccounts%2F{provisioning.account_id}"
        )
        assert client.post("/console/api-tokens", data={"name": "x"}).status_code == 401
        assert client.get("/console/preview", params={"methods": "read"}).status_code == 401
        with provisioning.client() as admin:
            names = [t["name"] for t in admin.get("/api-token").json()["items"]]
        assert "x" not in names


@pytest.mark.parametrize(
    ("next_path", "landing"),
    [
        ("/console/api-tokens", "/console/api-tokens"),
        ("https://evil.example/console/", "/console/accounts"),
        ("//evil.example/console/", "/console/accounts"),
        ("/console/\\\\evil.example", "/console/accounts"),
        ("/openapi.json", "/console/accounts"),
    ],
)
def test_sign_in_returns_only_inside_the_console(
    provisioning: Provisioning, next_path: str, landing: str
) -> None:
    """The return address after sign-in cannot lead off the console (no open redirect)."""
    with httpx.Client(base_url=provisioning.url, timeout=15) as client:
        form = client.get("/console/sign-in")
        answer = client.post(
            "/console/sign-in",
            data={
                "csrf_token": csrf_of(form),
                "admin_token": provisioning.admin_token,
                "next_path": next_path,
            },
        )
    assert answer.status_code == 303
    assert answer.headers["location"] == landing


def test_sign_in_form_needs_its_own_csrf_token(provisioning: Provisioning) -> None:
    """Posting the sign-in form without the token its page set (login CSRF) is refused."""
    with httpx.Client(base_url=provisioning.url, timeout=15) as client:
        answer = client.post(
            "/console/sign-in",
            data={"csrf_token": "guessed", "admin_token": provisioning.admin_token},
        )
    assert answer.status_code == 403
    assert "stackmcp_console=" not in answer.headers.get("set-cookie", "")


def test_custom_expiry_is_read_in_the_browsers_zone(
    console: httpx.Client, provisioning: Provisioning
) -> None:
    """A custom date from ``datetime-local`` plus the browser's offset is stored in UTC; a date
    that is not one is reported on the expiry field."""
    account = f"/console/accounts/{provisioning.account_id}"
    csrf = csrf_of(console.get(f"{account}/servers/new"))
    form = {
        "csrf_token": csrf,
        "name": "custom expiry",
        "methods": ["read"],
        "tags": ["incidents"],
        "expiry": "custom",
        "expires_at_local": "2031-01-02T10:30",
        "tz_offset": "-60",  # getTimezoneOffset() in UTC+01:00
    }
    created = console.post(f"{account}/servers", data=form)
    assert created.status_code == 303, created.text
    server_id = created.headers["location"].split("/")[-2]
    with provisioning.client() as admin:
        server = admin.get(f"/integrated-account/{provisioning.account_id}/mcp/{server_id}").json()
        admin.delete(f"/integrated-account/{provisioning.account_id}/mcp/{server_id}")
    assert datetime.fromisoformat(server["expires_at"]) == datetime(2031, 1, 2, 9, 30, tzinfo=UTC)

    refused = console.post(f"{account}/servers", data={**form, "expires_at_local": "soon"})
    assert refused.status_code == 422
    assert 'id="expiry-error"' in refused.text
    assert 'id="expiry" name="expiry" aria-invalid="true"' in refused.text


def test_unknown_things_are_html_pages_and_the_api_stays_json(
    console: httpx.Client, provisioning: Provisioning
) -> None:
    """Under /console errors are pages; elsewhere the admin API keeps its JSON error body."""
    missing = console.get("/console/accounts/acc_0000000000000000")
    assert missing.status_code == 404
    assert "No integrated account" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    route = console.get("/console/no-such-page")
    assert route.status_code == 404
    assert route.headers["content-type"].startswith("text/html")
    api = console.get("/no-such-route")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


@pytest.fixture
def short_sessions(provisioning: Provisioning, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A second provisioning replica whose console sessions last 1 s."""
    processes: list[subprocess.Popen[str]] = []
    try:
        url, token, _ = start_provisioning(
            provisioning.stack, tmp_path, processes, STACKMCP_PROVISIONING_CONSOLE_SESSION_TTL="1"
        )
        yield url, token
    finally:
        for process in processes:
            terminate(process)


def test_sessions_end_when_their_time_is_up(short_sessions: tuple[str, str]) -> None:
    """After ``console_session_ttl`` the cookie no longer signs anyone in."""
    url, token = short_sessions
    with sign_in(url, token) as client:
        assert client.get("/console/accounts").status_code == 200
        time.sleep(2.1)
        assert client.get("/console/accounts").status_code == 303


def test_console_can_be_turned_off(provisioning: Provisioning, tmp_path: Path) -> None:
    """``STACKMCP_PROVISIONING_CONSOLE=false`` serves the admin API only."""
    processes: list[subprocess.Popen[str]] = []
    try:
        url, _, _ = start_provisioning(
            provisioning.stack, tmp_path, processes, STACKMCP_PROVISIONING_CONSOLE="false"
        )
        with httpx.Client(base_url=url, timeout=15) as client:
            assert client.get("/console/sign-in").status_code == 404
            assert client.get("/").status_code == 404
            assert client.get("/healthz").status_code == 200
    finally:
        for process in processes:
            terminate(process)


def test_created_page_offers_only_what_works_and_keeps_itself_open(
    console: httpx.Client, provisioning: Provisioning
) -> None:
    """The URL-once page of a second-factor server on a loopback URL shows the guidance the API
    computes (no custom connector, a note saying only this machine reaches it, Claude Code with
    sign-in or x-api-key) and its API-token link opens a new tab instead of leaving the page."""
    account = f"/console/accounts/{provisioning.account_id}"
    form = {
        "csrf_token": csrf_of(console.get(f"{account}/servers/new")),
        "name": "Better Stack guarded",
        "methods": ["read"],
        "tags": ["incidents"],
        "require_api_token_auth": "on",
        "expiry": "1h",
    }
    created = console.post(f"{account}/servers", data=form)
    assert created.status_code == 303, created.text
    page = console.get(created.headers["location"])
    assert page.status_code == 200
    html = page.text
    url = re.search(r'id="server-url" readonly value="([^"]+)"', html)
    assert url, html
    config = client_config(url.group(1), "Better Stack guarded", require_api_token=True)
    assert config["custom_connector"] is False
    assert "custom connector (" not in html
    assert 'id="custom-connector-heading"' not in html
    for note in config["notes"]:
        assert escape(note) in html
    for way in config["guidance"]:
        assert f'id="{way["id"]}-heading">{escape(way["title"])}</h3>' in html
        for block in way["blocks"]:
            assert escape(block.get("code") or block.get("text")) in html
    assert (
        f'<pre id="claude-code" aria-labelledby="claude-code-heading">{escape(config["claude_code"])}'
        in html
    )
    assert (
        f'<pre id="claude-code-2" aria-labelledby="claude-code-heading">{escape(config["claude_code_header"])}'
        in html
    )
    assert "better-stack-better-stack" not in html
    link = re.search(r'<a href="/console/api-tokens"[^>]*>create an API token</a>', html)
    assert link, html
    assert 'target="_blank"' in link.group(0)
    assert 'rel="noopener"' in link.group(0)
    assert "opens in a new tab" in html
    server_id = created.headers["location"].split("/")[-2]
    with provisioning.client() as admin:
        admin.delete(f"/integrated-account/{provisioning.account_id}/mcp/{server_id}")
