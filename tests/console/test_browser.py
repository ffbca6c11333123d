"""The admin web console in a real browser (Debian's Chromium, headless, driven by Playwright)
against real provisioning, worker and gateway processes and the sandbox.

The operator's path: sign in, connect an account, create a read-only server tagged
``incidents`` while the live preview narrows (then review it and create it), copy the URL, and the official MCP client on that
URL lists exactly the previewed tools; edit it to add write; revoke it and the URL is refused.
Screenshots land in ``artifacts/console/``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from mcp import Client
from playwright.async_api import Page, expect

from stackmcp.betterstack_worker.catalog import default_catalog
from stackmcp.contracts.grants import Grant
from stackmcp.contracts.policy import expose
from tests.support.browser import browser_page, screenshot
from tests.support.provisioning import Provisioning, refused_within

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CATALOGUE = {t.name: t for t in default_catalog().tools}


def expected(
    methods: list[str], tags: list[str], exclude_tags: tuple[str, ...] = ("destructive",)
) -> list[str]:
    """What the worker's catalogue exposes under a filter (the gateway's rule); a server
    created in the console leaves destructive tools out unless the operator unticks it."""
    grant = Grant(
        server_id="srv_x",
        account_id="acc_x",
        methods=tuple(methods),
        tags=tuple(tags),
        exclude_tags=exclude_tags,
    )
    return [t.name for t in expose(CATALOGUE.values(), grant).tools]


@pytest.fixture
async def page(provisioning: Provisioning) -> AsyncIterator[Page]:
    """A browser page that may use the clipboard on the console's origin."""
    async with browser_page(origin=provisioning.url) as page:
        yield page


async def sign_in(page: Page, admin: Provisioning, token: str | None = None) -> None:
    """Open the console and sign in through the form."""
    await page.goto(f"{admin.url}/console/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_label("Admin token").fill(token or admin.admin_token)
    await page.get_by_role("button", name="Sign in").click()


async def previewed(page: Page) -> list[str]:
    """Tool names in the preview once it has settled."""
    await expect(page.locator("#preview")).not_to_have_attribute("data-state", "loading")
    names: list[str] = await page.locator("#preview-tools [data-tool]").evaluate_all(
        "items => items.map(item => item.dataset.tool)"
    )
    return names


async def listed_by_mcp_client(url: str) -> list[str]:
    """What the official MCP client lists on ``url``."""
    async with Client(url) as client:
        return [t.name for t in (await client.list_tools()).tools]


async def test_operator_creates_edits_and_revokes_a_server(
    page: Page, provisioning: Provisioning
) -> None:
    """The whole path of the issue, in one browser session."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sandbox = provisioning.stack.sandbox

    await sign_in(page, provisioning)
    await expect(page.get_by_role("heading", name="Integrated Accounts")).to_be_visible()

    # Connect an account, verifying its token with the (emulated) Better Stack first.
    await page.get_by_role("link", name="Connect account").click()
    await page.get_by_label("Name").fill("Production (console)")
    await page.get_by_label("Better Stack API token").fill(sandbox.token)
    await page.get_by_label("Base URL").fill(sandbox.base_url)
    await page.get_by_label("Team").fill("sre")
    await expect(
        page.get_by_label("Verify the token with Better Stack before saving")
    ).to_be_checked()
    await page.get_by_role("button", name="Connect account").click()
    await expect(page.locator(".notice")).to_have_text("Account connected.")
    await expect(page.get_by_role("heading", name="Production (console)")).to_be_visible()
    account_url = page.url.split("?")[0]

    # Create MCP Server: read only, then narrow to incidents and watch the preview follow.
    await page.get_by_role("link", name="Create MCP Server").click()
    await page.get_by_label("Name").fill("incident triage")
    await expect(page.get_by_label("Read", exact=True)).to_be_checked()
    await expect(page.get_by_label("No destructive tools")).to_be_checked()
    await expect(page.get_by_label("Ask a person first")).to_have_value("writes")
    await expect(page.get_by_label("Reveal secrets in results")).not_to_be_checked()
    await expect(page.get_by_label("Note on the Better Stack timeline")).to_be_checked()
    assert await previewed(page) == expected(["read"], [])
    await page.get_by_label("incidents", exact=True).check()
    await expect(page.locator("#preview-count")).to_have_text(
        str(len(expected(["read"], ["incidents"])))
    )
    preview = await previewed(page)
    assert preview == expected(["read"], ["incidents"])
    assert preview, "the preview lists the incident read tools"
    assert all(
        CATALOGUE[n].method_class == "read" and "incidents" in CATALOGUE[n].tags for n in preview
    )
    tokens = int(await page.locator("#preview-tokens").inner_text())
    assert tokens > 0
    await expect(page.get_by_label("Expiry", exact=True)).to_have_value("30d")
    await page.get_by_label("Expiry", exact=True).select_option("7d")
    await screenshot(page, "create-form-with-preview")
    # The form's default button reviews; only the review page's button creates.
    await page.get_by_role("button", name="Review", exact=True).click()
    await expect(page.locator("#review-count")).to_have_text(str(len(preview)))
    await page.get_by_role("button", name="Create server").click()

    # The created-server panel: the URL, once, with a working copy button and Claude configs.
    await expect(page.get_by_role("heading", name=re.compile("incident triage"))).to_be_visible()
    url = await page.get_by_label("MCP server URL").input_value()
    assert url.startswith(f"{provisioning.stack.gateways[0]}/mcp/smcp_srv_")
    await page.get_by_role("button", name="Copy URL").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == url
    await expect(page.locator("#claude-code")).to_contain_text("claude mcp add --transport http")
    await expect(page.locator("#claude-code")).to_contain_text(url)
    await expect(page.locator("#claude-desktop")).to_contain_text('"mcp-remote"')
    # The test gateway is on 127.0.0.1: Claude's custom connector (which calls from Anthropic's
    # cloud) is not offered, and a note says only this machine reaches the URL.
    await expect(page.get_by_role("heading", name=re.compile("custom connector"))).to_have_count(0)
    await expect(
        page.get_by_role("note").filter(has_text="only reachable from this machine")
    ).to_be_visible()
    await screenshot(page, "created-server-panel")

    # The official MCP client on the copied URL lists exactly what the preview showed.
    assert await listed_by_mcp_client(url) == preview

    # Shown once: a reload (or going back) does not show it again.
    await page.reload()
    await expect(page.locator("#already-shown")).to_be_visible()
    assert url not in await page.content()

    # The MCP Servers tab lists it with its filter, API-token setting and a live countdown.
    await page.goto(account_url)
    row = page.locator("#servers tr", has_text="incident triage")
    await expect(row.locator('[data-label="Methods"]')).to_have_text("read")
    await expect(row.locator('[data-label="Tags"]')).to_have_text("incidents")
    await expect(row.locator('[data-label="API token"]')).to_have_text("Not required")
    countdown = row.locator("[data-countdown]")
    await expect(countdown).to_have_text(re.compile(r"^in 6 d 23 h \d+ min$"))
    await expect(row.locator('[data-label="Tools"]')).to_have_text(str(len(preview)))
    await screenshot(page, "account-page")

    # Edit: add write; the same URL now lists the incident write tools too, but for the
    # destructive ones, which the preview lists as left out, with why.
    await row.get_by_role("link", name="Edit incident triage").click()
    await expect(page.get_by_label("No destructive tools")).to_be_checked()
    await page.get_by_label("Write", exact=True).check()
    await expect(page.locator("#preview-count")).to_have_text(
        str(len(expected(["read", "write"], ["incidents"])))
    )
    await expect(
        page.locator('#preview-withheld [data-withheld="better_stack_incidents_resolve"]')
    ).to_contain_text("Excluded by tag 'destructive'")
    await page.get_by_role("button", name="Review changes").click()
    await expect(page.locator('[data-diff="Methods"] .after')).to_have_text("read, write")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator(".notice")).to_contain_text("MCP server updated")
    await page.goto(account_url)
    await expect(row.locator('[data-label="Methods"]')).to_have_text("read write")
    assert await listed_by_mcp_client(url) == expected(["read", "write"], ["incidents"])

    # Revoke, after a confirmation; the URL is refused from then on.
    await row.get_by_role("link", name="Revoke incident triage").click()
    await expect(page.get_by_role("heading", name=re.compile("Revoke"))).to_be_visible()
    assert await listed_by_mcp_client(url), "nothing is revoked before the confirmation"
    await page.get_by_role("button", name="Revoke MCP server").click()
    await expect(page.locator(".notice")).to_contain_text("revoked")
    # It stays listed for its history, marked revoked (in words, not only colour), no actions.
    await expect(row.locator('[data-label="Status"]')).to_contain_text("revoked")
    await expect(row.get_by_role("link", name="Revoke incident triage")).to_have_count(0)
    await refused_within(url, 1.0)

    # Its page keeps who revoked it and its activity, never the URL.
    await row.get_by_role("link", name="incident triage", exact=True).click()
    await expect(page.locator("#ended")).to_contain_text("revoked")
    await expect(page.locator("#activity-filters")).to_be_visible()
    assert url not in await page.content()
    await screenshot(page, "revoked-server-page")

    # Nothing was fetched from anywhere but the console itself.
    assert requested
    assert all(u.startswith(f"{provisioning.url}/") for u in requested), requested


async def test_created_page_of_a_second_factor_server_stays_open_for_a_token(
    page: Page, provisioning: Provisioning
) -> None:
    """A server requiring an API token: Claude Code signs in or sends x-api-key, the Desktop
    entry reads the token from the environment, and "create an API token" opens a new tab, so
    the URL shown only once stays on screen."""
    await sign_in(page, provisioning)
    await page.goto(f"{provisioning.url}/console/accounts/{provisioning.account_id}/servers/new")
    await page.get_by_label("Name").fill("Better Stack guarded")
    await page.get_by_label("incidents", exact=True).check()
    await page.get_by_label("Require an API token too").check()
    await page.get_by_role("button", name="Review", exact=True).click()
    await page.get_by_role("button", name="Create server").click()
    url = await page.get_by_label("MCP server URL").input_value()
    await expect(page.get_by_role("heading", name=re.compile("custom connector"))).to_have_count(0)
    await expect(page.locator("#claude-code")).to_have_text(
        f"claude mcp add --transport http better-stack-guarded {url}"
    )
    header = f"claude mcp add --transport http better-stack-guarded {url} --header 'x-api-key: <API token>'"
    await expect(page.locator("#claude-code-2")).to_have_text(header)
    await page.locator('[data-copy="claude-code-2"]').click()
    assert await page.evaluate("navigator.clipboard.readText()") == header
    await expect(page.locator("#claude-desktop")).to_contain_text(
        '"x-api-key:${STACKMCP_API_TOKEN}"'
    )
    await expect(page.locator("#claude-desktop")).to_contain_text(
        '"STACKMCP_API_TOKEN": "<API token>"'
    )
    await screenshot(page, "created-server-second-factor")

    async with page.context.expect_page() as opened:
        await page.get_by_role("link", name="create an API token").click()
    tokens = await opened.value
    await expect(tokens.get_by_role("heading", name="API tokens")).to_be_visible()
    await tokens.close()
    # The URL-once page is still there, with the URL.
    assert await page.get_by_label("MCP server URL").input_value() == url
    assert page.url.endswith("/created")


async def test_wrong_sign_in_is_refused_next_to_the_field(
    page: Page, provisioning: Provisioning
) -> None:
    """A wrong admin token: 401, the error next to the field, no session cookie, no echo."""
    wrong = "smcp_adm_this-is-not-the-admin-token-at-all"
    answers: list[int] = []
    page.on(
        "response",
        lambda r: answers.append(r.status) if r.url.endswith("/console/sign-in") else None,
    )
    await sign_in(page, provisioning, token=wrong)
    field = page.get_by_label("Admin token")
    await expect(page.locator("#admin_token-error")).to_have_text(re.compile("not accepted"))
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(field).to_have_value("")
    assert 401 in answers
    assert wrong not in await page.content()
    names = {c["name"] for c in await page.context.cookies()}
    assert "stackmcp_console" not in names


async def test_session_cookie_csrf_and_sign_out(page: Page, provisioning: Provisioning) -> None:
    """The session cookie is HTTP-only and SameSite=Strict; a form without the CSRF token is
    refused even with the cookie; a cross-site form gets no cookie at all; sign-out ends the
    session on the server, so the old cookie no longer works."""
    await sign_in(page, provisioning)
    await expect(page.get_by_role("heading", name="Integrated Accounts")).to_be_visible()
    cookie = next(c for c in await page.context.cookies() if c["name"] == "stackmcp_console")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    assert await page.evaluate("document.cookie") == "", "scripts cannot read the session"

    # Same browser, same cookie, no CSRF token: refused, and nothing is created.
    with provisioning.client() as admin:
        before = admin.get("/api-token").json()["items"]
    forged = await page.request.post(
        f"{provisioning.url}/console/api-tokens", form={"name": "forged"}
    )
    assert forged.status == 403
    assert "security token" in await forged.text()
    wrong_token = await page.request.post(
        f"{provisioning.url}/console/api-tokens",
        form={"name": "forged", "csrf_token": "not-the-session-token"},
    )
    assert wrong_token.status == 403
    with provisioning.client() as admin:
        assert admin.get("/api-token").json()["items"] == before

    # A page on another site posting to the console: the browser withholds the cookie.
    evil = "http://evil.example/"
    form = (
        f'<form method="post" action="{provisioning.url}/console/api-tokens">'
        '<input name="name" value="cross-site"></form>'
        "<script>document.forms[0].submit()</script>"
    )
    await page.route(evil, lambda route: route.fulfill(content_type="text/html", body=form))
    async with page.expect_navigation(url=f"{provisioning.url}/console/api-tokens"):
        await page.goto(evil)
    await expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    with provisioning.client() as admin:
        assert admin.get("/api-token").json()["items"] == before

    # Sign out; the old cookie, replayed, is refused by the server.
    await page.goto(f"{provisioning.url}/console/accounts")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    replayed = {"stackmcp_console": cookie["value"]}
    async with httpx.AsyncClient(base_url=provisioning.url, cookies=replayed) as client:
        replay = await client.get("/console/accounts")
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/console/sign-in")


async def test_connect_form_shows_errors_next_to_fields(
    page: Page, provisioning: Provisioning
) -> None:
    """Bad fields are answered next to each field; the token typed is never rendered back;
    a token Better Stack refuses is reported on its field and nothing is saved."""
    sandbox = provisioning.stack.sandbox
    await sign_in(page, provisioning)
    await page.goto(f"{provisioning.url}/console/accounts/new")
    await page.get_by_label("Name").fill("   ")
    await page.get_by_label("Better Stack API token").fill("has a space")
    await page.get_by_label("Base URL").fill("ftp://example.com")
    await page.get_by_role("button", name="Connect account").click()
    await expect(page.locator("#name-error")).to_have_text(re.compile("name", re.IGNORECASE))
    await expect(page.locator("#betterstack_token-error")).to_contain_text("without spaces")
    await expect(page.locator("#base_url-error")).to_contain_text("http(s) URL")
    for label in ("Name", "Better Stack API token", "Base URL"):
        await expect(page.get_by_label(label)).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Base URL")).to_have_value("ftp://example.com")
    await expect(page.get_by_label("Better Stack API token")).to_have_value("")
    assert "has a space" not in await page.content()

    # Well-formed, but Better Stack (the sandbox) refuses it: verify-first catches that.
    await page.get_by_label("Name").fill("Refused token")
    await page.get_by_label("Better Stack API token").fill("bst_wrong_token_for_this_team")
    await page.get_by_label("Base URL").fill(sandbox.base_url)
    await page.get_by_role("button", name="Connect account").click()
    await expect(page.locator("#betterstack_token-error")).to_be_visible()
    assert "bst_wrong_token_for_this_team" not in await page.content()
    with provisioning.client() as admin:
        names = [a["name"] for a in admin.get("/integrated-account").json()["items"]]
    assert "Refused token" not in names


async def test_api_tokens_are_shown_once_listed_and_revoked(
    page: Page, provisioning: Provisioning
) -> None:
    """Create (shown once, copyable), list (never the token), revoke after confirmation."""
    await sign_in(page, provisioning)
    await page.get_by_role("link", name="API tokens").click()
    await page.get_by_label("Name").fill("")
    await page.get_by_role("button", name="Create API token").click()
    await expect(page.locator("#name-error")).to_have_text("must not be empty")
    await page.get_by_label("Name").fill("claude desktop")
    await page.get_by_role("button", name="Create API token").click()
    token = await page.get_by_label("API token", exact=True).input_value()
    assert token.startswith("smcp_api_")
    await page.get_by_role("button", name="Copy token").click()
    assert await page.evaluate("navigator.clipboard.readText()") == token
    await page.reload()
    await expect(page.locator("#already-shown")).to_be_visible()
    assert token not in await page.content()

    await page.get_by_role("link", name="Done: back to API tokens").click()
    row = page.locator("#api-tokens tr", has_text="claude desktop")
    await expect(row).to_have_count(1)
    assert token not in await page.content()
    await row.get_by_role("link", name="Revoke claude desktop").click()
    await page.get_by_role("button", name="Revoke API token").click()
    await expect(page.locator(".notice")).to_contain_text("API token revoked")
    await expect(page.locator("#api-tokens tr", has_text="claude desktop")).to_have_count(0)


@pytest.mark.parametrize(
    "path", ["accounts", "account", "new-server", "api-tokens", "activity", "history"]
)
async def test_pages_fit_a_phone(provisioning: Provisioning, path: str) -> None:
    """At 390 px wide nothing scrolls sideways, and the controls stay reachable."""
    async with browser_page(width=390, height=844) as page:
        await sign_in(page, provisioning)
        account = f"{provisioning.url}/console/accounts/{provisioning.account_id}"
        url = {
            "accounts": f"{provisioning.url}/console/accounts",
            "account": account,
            "new-server": f"{account}/servers/new",
            "api-tokens": f"{provisioning.url}/console/api-tokens",
            "activity": f"{account}/activity",
            "history": f"{provisioning.url}/console/history",
        }[path]
        await page.goto(url)
        await expect(page.locator("main h1")).to_be_visible()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide at a 390 px viewport"
        if path == "new-server":
            await screenshot(page, "create-form-phone")


async def test_create_works_without_javascript(provisioning: Provisioning) -> None:
    """With scripts off the form still previews (through "Update preview") and creates."""
    async with browser_page(javascript=False) as page:
        await sign_in(page, provisioning)
        await page.goto(
            f"{provisioning.url}/console/accounts/{provisioning.account_id}/servers/new"
        )
        await page.get_by_label("Name").fill("no script")
        await page.get_by_label("on_call", exact=True).check()
        await page.get_by_role("button", name="Update preview").click()
        await expect(page.get_by_label("on_call", exact=True)).to_be_checked()
        await expect(page.get_by_label("Name")).to_have_value("no script")
        assert await previewed(page) == expected(["read"], ["on_call"])
        await page.get_by_role("button", name="Review", exact=True).click()
        await page.get_by_role("button", name="Create server").click()
        url = await page.get_by_label("MCP server URL").input_value()
    assert await listed_by_mcp_client(url) == expected(["read"], ["on_call"])
