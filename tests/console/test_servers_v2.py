"""Console v2's server flows in a real browser (Debian's Chromium, headless, Playwright) against
real provisioning, worker and gateway processes and the sandbox.

Creating goes through a review step: the form's default button (the one Enter presses) is
"Review", which writes nothing; only the review page's "Create server" does. Also: safe defaults
(30 days, a warning when no tag is chosen, tag counts, finer methods that follow Read), errors
in a person's words with a focused summary, the server page's Rotate URL and Test URL, the edit
diff, and the list of every server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp import Client
from playwright.async_api import Page, expect

from stackmcp.provisioning.console.urltest import on_gateway
from tests.support.browser import browser_page, docs_screenshot, screenshot
from tests.support.provisioning import Provisioning, refused_within

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
async def page(provisioning: Provisioning) -> AsyncIterator[Page]:
    """A fresh browser page."""
    async with browser_page() as page:
        yield page


async def sign_in(page: Page, admin: Provisioning) -> None:
    """Sign in through the form."""
    await page.goto(f"{admin.url}/console/sign-in")
    await page.get_by_label("Admin token").fill(admin.admin_token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Integrated Accounts")).to_be_visible()


def server_names(admin: Provisioning) -> list[str]:
    """Names of the account's servers, as the admin API lists them."""
    with admin.client() as client:
        items = client.get(f"/integrated-account/{admin.account_id}/mcp").json()["items"]
    return [s["name"] for s in items]


def create_by_api(admin: Provisioning, name: str, **body: Any) -> dict[str, Any]:
    """A server created through the admin API (its answer, with the URL)."""
    payload = {"name": name, "config": {"methods": ["read"], "tags": ["incidents"]}, **body}
    with admin.client() as client:
        answer = client.post(f"/integrated-account/{admin.account_id}/mcp", json=payload)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def tab_to(page: Page, element_id: str, limit: int = 120) -> None:
    """Press Tab until the element with ``element_id`` has the focus."""
    for _ in range(limit):
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


async def listed(url: str) -> list[str]:
    """What the official MCP client lists on ``url``."""
    async with Client(url) as client:
        return [t.name for t in (await client.list_tools()).tools]


async def test_enter_never_creates_and_keyboard_only_creation(
    page: Page, provisioning: Provisioning
) -> None:
    """Enter in Name and Enter on a checkbox open the review (nothing is created); Tab, Space
    and Enter alone then create the server from the review page."""
    await sign_in(page, provisioning)
    await page.goto(f"{provisioning.url}/console/accounts/{provisioning.account_id}/servers/new")
    name = "keyboard only"

    await tab_to(page, "name")
    await page.keyboard.type(name)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Review the new MCP server")).to_be_visible()
    assert name not in server_names(provisioning)

    # Back to the form (kept as it was), then Space on a tag and Enter on that checkbox.
    await tab_to(page, "change-settings")
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Name")).to_have_value(name)
    await tab_to(page, "tag-incidents")
    await page.keyboard.press("Space")
    await expect(page.get_by_label("incidents", exact=True)).to_be_checked()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Review the new MCP server")).to_be_visible()
    assert name not in server_names(provisioning)
    await expect(page.locator("#review-tags")).to_have_text("incidents")
    await expect(page.locator("#every-tag-warning")).to_have_count(0)
    await expect(page.locator("#review-expiry")).to_contain_text("In 30 days")
    tools = await page.locator("#review-tools [data-tool]").evaluate_all(
        "items => items.map(item => item.dataset.tool)"
    )
    assert tools
    await docs_screenshot(page, "server-review", full_page=True)

    # Only the explicit button creates it, and the URL-once page is never cached.
    await tab_to(page, "confirm-button")
    async with page.expect_response(re.compile(r"/created$")) as shown:
        await page.keyboard.press("Enter")
    assert (await shown.value).headers["cache-control"] == "no-store"
    url = await page.get_by_label("MCP server URL").input_value()
    assert server_names(provisioning).count(name) == 1
    assert await listed(url) == tools

    # Test URL: initialize + tools/list from the console's side, the URL still on the page.
    await page.get_by_role("button", name="Test URL").click()
    await expect(page.locator("#test-result")).to_have_text(
        f"The URL works: it listed {len(tools)} tools."
    )
    assert await page.get_by_label("MCP server URL").input_value() == url

    # A second server with the same name: created, with a warning on its page.
    await page.goto(f"{provisioning.url}/console/accounts/{provisioning.account_id}/servers/new")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("incidents", exact=True).check()
    await page.get_by_role("button", name="Review", exact=True).click()
    await expect(page.locator("[data-warning]")).to_contain_text("already named")
    await page.get_by_role("button", name="Create server").click()
    await expect(page.locator("[data-warning]").first).to_contain_text(name)


async def test_safe_defaults_tag_counts_and_finer_methods(
    page: Page, provisioning: Provisioning
) -> None:
    """30 days preselected; no tag chosen is a warning naming the count; tags show counts;
    ticking Read shows list and get ticked and disabled."""
    await sign_in(page, provisioning)
    await page.goto(f"{provisioning.url}/console/accounts/{provisioning.account_id}/servers/new")
    await expect(page.get_by_label("Expiry", exact=True)).to_have_value("30d")
    total = int(await page.locator("#preview-count").inner_text())
    await expect(page.locator("#every-tag-warning")).to_contain_text(
        f"every tag: {total} tools, including"
    )
    incidents = page.locator('[data-tag-count="incidents"] .n')
    read_incidents = int(await incidents.inner_text())
    assert 0 < read_incidents < total

    await page.locator("summary", has_text="Finer methods").click()
    for method in ("list", "get"):
        box = page.locator(f"#method-{method}")
        await expect(box).to_be_checked()
        await expect(box).to_be_disabled()
    await expect(page.locator("#method-create")).not_to_be_checked()
    await page.get_by_label("Write", exact=True).check()
    await expect(page.locator("#method-create")).to_be_disabled()
    await expect(incidents).not_to_have_text(str(read_incidents))
    await page.get_by_label("Write", exact=True).uncheck()
    await page.get_by_label("Read", exact=True).uncheck()
    await expect(page.locator("#method-list")).to_be_enabled()
    await expect(page.locator("#method-list")).not_to_be_checked()
    await page.get_by_label("Read", exact=True).check()
    await page.get_by_label("incidents", exact=True).check()
    await expect(page.locator("#every-tag-warning")).to_have_count(0)
    await page.get_by_label("Name").fill("defaults")
    await docs_screenshot(page, "server-form", full_page=True)


async def test_errors_in_words_with_a_focused_summary(
    page: Page, provisioning: Provisioning
) -> None:
    """No method and no date: the summary takes focus and says it as a person would."""
    await sign_in(page, provisioning)
    await page.goto(f"{provisioning.url}/console/accounts/{provisioning.account_id}/servers/new")
    await page.get_by_label("Name").fill("broken")
    await page.get_by_label("Read", exact=True).uncheck()
    await page.get_by_label("Expiry", exact=True).select_option("custom")
    await page.get_by_role("button", name="Review", exact=True).click()
    summary = page.locator("#error-summary")
    await expect(summary).to_be_focused()
    await expect(summary).to_contain_text("Methods: choose at least one method")
    await expect(summary).to_contain_text("Expiry: choose a date and time")
    text = await summary.inner_text()
    for api_syntax in ('["read"]', "['", "ISO-8601", "config."):
        assert api_syntax not in text
    await summary.get_by_role("link", name=re.compile("Methods")).click()
    assert page.url.endswith("#methods")
    assert "broken" not in server_names(provisioning)


async def test_edit_shows_a_diff_and_rotate_gives_a_new_url(
    page: Page, provisioning: Provisioning
) -> None:
    """Edit: the review lists what changes, before → after; Rotate URL: the old URL is refused
    at once, the new one (shown once, never cached) works in the official MCP client."""
    created = create_by_api(provisioning, "rotate me")
    old_url = created["url"]
    before = await listed(old_url)
    server = (
        f"{provisioning.url}/console/accounts/{provisioning.account_id}/servers/{created['id']}"
    )
    await sign_in(page, provisioning)
    await page.goto(server)
    await expect(page.locator("#fingerprint")).to_have_text(created["fingerprint"])

    await page.get_by_role("link", name="Edit").click()
    await page.get_by_label("Write", exact=True).check()
    await page.get_by_role("button", name="Review changes").click()
    methods = page.locator('[data-diff="Methods"]')
    await expect(methods.locator(".before")).to_have_text("read")
    await expect(methods.locator(".after")).to_have_text("read, write")
    await expect(page.locator('[data-diff="Tools"] .before')).to_have_text(str(len(before)))
    await expect(page.locator("#tools-added")).to_be_visible()
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator(".notice")).to_contain_text("MCP server updated")
    after = await listed(old_url)
    assert len(after) > len(before)
    await docs_screenshot(page, "server-page", full_page=True)

    await page.get_by_role("link", name="Rotate URL").click()
    assert await listed(old_url) == after, "nothing changes before the confirmation"
    async with page.expect_response(re.compile(r"/created$")) as shown:
        await page.get_by_role("button", name="Rotate URL").click()
    assert (await shown.value).headers["cache-control"] == "no-store"
    await expect(page.locator("#rotated-note")).to_be_visible()
    once = page.url
    await page.get_by_role("button", name="Test URL").click()
    await expect(page.locator("#test-result")).to_contain_text("The URL works")
    await screenshot(page, "rotated-url-once")
    new_url = await page.get_by_label("MCP server URL").input_value()
    assert new_url != old_url
    await refused_within(old_url, 2.0)
    assert await listed(new_url) == after
    await page.goto(once)
    await expect(page.locator("#already-shown")).to_be_visible()
    await page.goto(server)
    await expect(page.locator("#fingerprint")).not_to_have_text(created["fingerprint"])


async def test_every_server_listed_searched_and_filtered(
    page: Page, provisioning: Provisioning
) -> None:
    """All servers of every account: search by name or id, status filter, expiring soon."""
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    short = create_by_api(provisioning, "list soon", expires_at=soon)
    long = create_by_api(provisioning, "list later", expires_at=later)
    gone = create_by_api(provisioning, "list revoked")
    with provisioning.client() as client:
        client.delete(f"/integrated-account/{provisioning.account_id}/mcp/{gone['id']}")
    await sign_in(page, provisioning)
    await page.goto(f"{provisioning.url}/console/servers")
    await page.get_by_label("Name or id").fill("list ")
    await page.get_by_role("button", name="Show").click()
    rows = page.locator("#all-servers tbody tr")
    await expect(rows).to_have_count(3)
    soon_row = page.locator(f'tr[data-server-id="{short["id"]}"]')
    await expect(soon_row).to_have_class(re.compile("expiring-soon"))
    await expect(soon_row.locator("[data-expiring-soon]")).to_have_text("expires soon")
    await expect(page.locator(f'tr[data-server-id="{long["id"]}"]')).not_to_have_class(
        re.compile("expiring-soon")
    )
    await expect(soon_row.locator("time").first).to_have_attribute("datetime", re.compile("T"))

    await screenshot(page, "all-servers")
    await page.get_by_label("Status").select_option("revoked")
    await page.get_by_role("button", name="Show").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-server-id", gone["id"])

    await page.goto(f"{provisioning.url}/console/servers?q={long['id']}")
    await expect(rows).to_have_count(1)
    await page.goto(f"{provisioning.url}/console/servers?q=list+&sort=expires&status=active")
    ids = await rows.evaluate_all("rows => rows.map(row => row.dataset.serverId)")
    assert ids == [short["id"], long["id"]]


async def test_enter_reviews_without_javascript(provisioning: Provisioning) -> None:
    """With scripts off, Enter in Name still only opens the review: the form's default button
    is "Review", not a script intercepting the key."""
    async with browser_page(javascript=False) as page:
        await sign_in(page, provisioning)
        account = f"{provisioning.url}/console/accounts/{provisioning.account_id}"
        await page.goto(f"{account}/servers/new")
        await page.get_by_label("Name").fill("no script enter")
        await page.get_by_label("Name").press("Enter")
        await expect(page.get_by_role("heading", name="Review the new MCP server")).to_be_visible()
        await expect(page.locator("#every-tag-warning")).to_contain_text("every tag")
        assert "no script enter" not in server_names(provisioning)
        await page.get_by_role("button", name="Create server").click()
        await expect(page.get_by_label("MCP server URL")).to_be_visible()
    assert server_names(provisioning).count("no script enter") == 1


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://gw.example:8080/mcp/smcp_srv_abc", True),
        ("http://gw.example:8080/mcp/smcp_srv_abc/../../admin", False),
        ("http://gw.example:8080/mcp/", False),
        ("http://gw.example:8081/mcp/smcp_srv_abc", False),
        ("https://gw.example:8080/mcp/smcp_srv_abc", False),
        ("http://169.254.169.254/mcp/smcp_srv_abc", False),
        ("http://gw.example:8080@evil.example/mcp/smcp_srv_abc", False),
        ("http://user:pw@gw.example:8080/mcp/smcp_srv_abc", False),
        ("http://gw.example:8080/mcp/smcp_srv_abc?next=http://evil.example", False),
        ("http://gw.example:8080/other/smcp_srv_abc", False),
        ("not a url", False),
    ],
)
def test_test_url_only_reaches_the_gateway(url: str, allowed: bool) -> None:
    """The Test URL button fetches only the configured gateway's MCP URLs (no SSRF)."""
    assert on_gateway(url, "http://gw.example:8080") is allowed


async def test_test_url_refuses_other_hosts(page: Page, provisioning: Provisioning) -> None:
    """A URL posted to /console/test-url that is not the gateway's is never fetched, and the
    page does not show it back."""
    created = create_by_api(provisioning, "ssrf probe")
    await sign_in(page, provisioning)
    await page.goto(f"{provisioning.url}/console/accounts/{provisioning.account_id}")
    csrf = await page.locator('input[name="csrf_token"]').first.input_value()
    answer = await page.request.post(
        f"{provisioning.url}/console/test-url",
        form={
            "csrf_token": csrf,
            "url": "http://169.254.169.254/latest/meta-data/",
            "account_id": provisioning.account_id,
            "server_id": created["id"],
        },
    )
    assert answer.status == 200
    assert answer.headers["cache-control"] == "no-store"
    text = await answer.text()
    assert "Only this gateway" in text
    assert "169.254.169.254" not in text
