"""Account management in the console, in a real browser against real provisioning, worker and
gateway processes and the sandbox: connect, search, rename, rotate the Better Stack token (a
refused one first), re-verify with the health badge, remove with a confirmation that lists the
servers it revokes.

Each test connects its own account through the console, so the session's sandbox account that
other tests use is never renamed or removed. Screenshots land in ``artifacts/console/`` (and,
with ``STACKMCP_DOCS_SCREENSHOTS=1``, in ``docs/screenshots/``).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.msg import Msg
from playwright.async_api import Page, expect

from stackmcp.embedded import free_port
from tests.support.browser import browser_page, docs_screenshot
from tests.support.provisioning import Provisioning, refused_within

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
async def page(provisioning: Provisioning) -> AsyncIterator[Page]:
    """A signed-in console page."""
    async with browser_page(origin=provisioning.url) as page:
        await sign_in(page, provisioning)
        yield page


async def sign_in(page: Page, admin: Provisioning) -> None:
    """Open the console and sign in through the form."""
    await page.goto(f"{admin.url}/console/")
    await page.get_by_label("Admin token").fill(admin.admin_token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Integrated Accounts")).to_be_visible()


async def connect(
    page: Page,
    admin: Provisioning,
    name: str,
    *,
    base_url: str | None = None,
    verify: bool = True,
) -> str:
    """Connect an account through the console form; returns its id."""
    await page.goto(f"{admin.url}/console/accounts/new")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Better Stack API token").fill(admin.stack.sandbox.token)
    await page.get_by_label("Base URL").fill(base_url or admin.stack.sandbox.base_url)
    if not verify:
        await page.get_by_label("Verify the token").uncheck()
    await page.get_by_role("button", name="Connect account").click()
    await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    found = re.search(r"/console/accounts/(acc_[A-Za-z0-9_-]+)", page.url)
    assert found, page.url
    return found.group(1)


async def focused_id(page: Page) -> str:
    """The id of the element that has focus."""
    return str(await page.evaluate("document.activeElement && document.activeElement.id"))


def unique(name: str) -> str:
    """A name no other test run uses (the stack is shared)."""
    return f"{name} {secrets.token_hex(2)}"


async def test_rename_with_humane_errors_then_search(
    page: Page, provisioning: Provisioning
) -> None:
    """An empty name is refused in words with the summary focused; a rename shows everywhere
    and is found by the list's search."""
    name = unique("Ops team")
    account_id = await connect(page, provisioning, name)
    await expect(page.locator(".badge.health")).to_have_text("OK")

    await page.get_by_role("link", name="Settings").click()
    await page.locator("#name").fill("   ")
    await page.get_by_role("button", name="Rename").click()
    summary = page.locator("#error-summary")
    await expect(summary).to_be_focused()
    await expect(summary).to_contain_text("There is a problem")
    await expect(summary.get_by_role("link", name="Enter a name.")).to_have_attribute(
        "href", "#name"
    )
    await expect(page.locator("#name")).to_have_attribute("aria-invalid", "true")

    renamed = unique("Platform on-call")
    await page.locator("#name").fill(renamed)
    await page.locator("#name").press("Enter")
    await expect(page.locator(".notice")).to_have_text("Account renamed.")
    await expect(page.get_by_role("heading", level=1)).to_have_text(renamed)

    await page.goto(f"{provisioning.url}/console/accounts")
    await page.get_by_label("Search accounts").fill(renamed.split()[-1])
    await page.get_by_role("button", name="Search").click()
    rows = page.locator("#accounts tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-account-id", account_id)
    await expect(page.locator("#search-result")).to_contain_text("1 of")
    await page.get_by_label("Search accounts").fill("no-such-account-anywhere")
    await page.get_by_label("Search accounts").press("Enter")
    await expect(page.locator(".empty")).to_contain_text("No account matches")

    history = await page.goto(f"{provisioning.url}/console/history")
    assert history is not None
    await expect(page.locator("main")).to_contain_text("account.renamed")


async def test_rotate_token_refused_first_then_accepted(
    page: Page, provisioning: Provisioning
) -> None:
    """A token Better Stack refuses: the old one stays, the problem is said with the form's
    labels, focus lands on the summary, the token is never echoed. Then the right token."""
    name = unique("Rotation")
    account_id = await connect(page, provisioning, name)
    await page.get_by_role("link", name="Settings").click()

    wrong = f"wrong-{secrets.token_hex(8)}"
    await page.get_by_label("New Better Stack API token").fill(wrong)
    await page.get_by_role("button", name="Check and replace token").click()
    summary = page.locator("#error-summary")
    await expect(summary).to_be_focused()
    await expect(summary).to_contain_text("Better Stack refused the token")
    text = await page.locator("main").inner_text()
    assert "team_name" not in text, text
    assert "betterstack_token" not in text, text
    assert wrong not in await page.content()
    await expect(page.get_by_label("New Better Stack API token")).to_have_value("")
    await expect(page.get_by_label("New Better Stack API token")).to_have_attribute(
        "aria-invalid", "true"
    )
    await summary.get_by_role("link").first.click()
    assert await focused_id(page) == "betterstack_token"
    # The refused token changed nothing: the account still works with the old one.
    await page.get_by_role("button", name="Check with Better Stack").click()
    await expect(page.locator(".badge.health")).to_have_text("OK")

    # Workers hear about the new token at once (they drop their cached copy of the account).
    heard: asyncio.Queue[bytes] = asyncio.Queue()
    nc = await nats.connect(provisioning.stack.nats_url)
    try:
        subject = f"{provisioning.stack.prefix}.evt.account.updated"

        async def on_event(msg: Msg) -> None:
            heard.put_nowait(msg.data)

        await nc.subscribe(subject, cb=on_event)
        await page.get_by_label("New Better Stack API token").fill(provisioning.stack.sandbox.token)
        await page.get_by_role("button", name="Check and replace token").click()
        await expect(page.locator(".notice")).to_contain_text("Better Stack token replaced")
        event = json.loads(await asyncio.wait_for(heard.get(), 10))
    finally:
        await nc.close()
    assert event["account_id"] == account_id
    assert provisioning.stack.sandbox.token not in json.dumps(event)
    assert provisioning.stack.sandbox.token not in await page.content()
    await expect(page.locator(".badge.health")).to_have_text("OK")

    await page.goto(f"{provisioning.url}/console/history")
    await expect(page.locator("main")).to_contain_text("account.token_rotated")


async def test_health_badge_says_what_failed(page: Page, provisioning: Provisioning) -> None:
    """An account whose base URL answers nothing: the check says Better Stack is unreachable at
    that URL (not that a worker is missing), on the account page and in the list."""
    dead = f"http://127.0.0.1:{free_port()}"
    name = unique("Nowhere")
    # Connecting with "Verify" ticked is refused, saying where Better Stack could not be reached.
    await page.goto(f"{provisioning.url}/console/accounts/new")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Better Stack API token").fill(provisioning.stack.sandbox.token)
    await page.get_by_label("Base URL").fill(dead)
    await page.get_by_role("button", name="Connect account").click()
    summary = page.locator("#error-summary")
    await expect(summary).to_be_focused()
    await expect(summary).to_contain_text(f"Better Stack unreachable at {dead}")
    await expect(summary).not_to_contain_text("worker")
    await expect(page.get_by_label("Base URL")).to_have_value(dead)
    account_id = await connect(page, provisioning, name, base_url=dead, verify=False)
    await expect(page.locator(".badge.health")).to_have_text("Not checked")

    await page.get_by_role("button", name="Check with Better Stack").click()
    await expect(page.locator(".notice")).to_have_text("Checked with Better Stack.")
    badge = page.locator(".health-line .badge.health")
    await expect(badge).to_have_text("Unreachable")
    await expect(page.locator("#health-message")).to_contain_text(
        f"Better Stack unreachable at {dead}"
    )
    checked = page.locator(".health-line time")
    await expect(checked).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    await expect(checked).to_have_attribute("title", re.compile(r"UTC$"))

    await page.goto(f"{provisioning.url}/console/accounts")
    row = page.locator(f'#accounts tr[data-account-id="{account_id}"]')
    await expect(row.locator('[data-label="Health"] .badge')).to_have_text("Unreachable")


async def test_remove_lists_the_servers_it_revokes(page: Page, provisioning: Provisioning) -> None:
    """Remove asks first, naming every active server; after it, the account is gone and the
    server's URL is refused."""
    name = unique("Short-lived")
    account_id = await connect(page, provisioning, name)
    with provisioning.client() as admin:
        answer = admin.post(
            f"/integrated-account/{account_id}/mcp",
            json={"name": "Doomed reader", "config": {"methods": ["read"]}},
        )
    assert answer.status_code == 201, answer.text
    url = answer.json()["url"]

    await page.reload()
    await page.get_by_role("link", name="Settings").click()
    await page.get_by_role("link", name="Remove account…").click()
    await expect(page.get_by_role("heading", name=f"Remove {name}?")).to_be_visible()
    await expect(page.locator("#servers-to-revoke li")).to_have_count(1)
    await expect(page.locator("#servers-to-revoke")).to_contain_text("Doomed reader")
    await page.get_by_role("button", name="Remove account and revoke 1 server").click()

    await expect(page.locator(".notice")).to_contain_text("Account removed")
    await expect(page.locator(f'tr[data-account-id="{account_id}"]')).to_have_count(0)
    await refused_within(url, 10)
    missing = await page.goto(f"{provisioning.url}/console/accounts/{account_id}/settings")
    assert missing is not None
    assert missing.status == 404


async def test_screenshots_for_the_docs(provisioning: Provisioning) -> None:
    """The accounts list, an account page and dark mode, as the operator guide shows them
    (kept in ``docs/screenshots/`` when ``STACKMCP_DOCS_SCREENSHOTS=1``)."""
    async with browser_page(width=1100, height=640, origin=provisioning.url) as page:
        await sign_in(page, provisioning)
        await connect(page, provisioning, unique("Payments production"))
        await page.get_by_role("button", name="Check with Better Stack").click()
        await expect(page.locator(".notice")).to_have_text("Checked with Better Stack.")
        await expect(page.locator(".badge.health").first).to_have_text("OK")
        await docs_screenshot(page, "account-page")
        await page.goto(f"{provisioning.url}/console/accounts")
        await expect(page.locator("#accounts")).to_be_visible()
        await docs_screenshot(page, "accounts-list")
        await page.emulate_media(color_scheme="dark")
        await page.goto(f"{provisioning.url}/console/accounts/{provisioning.account_id}/settings")
        background = await page.evaluate(
            "getComputedStyle(document.documentElement).backgroundColor"
        )
        assert background != "rgb(255, 255, 255)", background
        await docs_screenshot(page, "dark-mode")
