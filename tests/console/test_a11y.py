"""Accessibility of every console page, in a real browser (Debian's Chromium) against real
provisioning, worker and gateway processes: axe-core (bundled by ``axe-playwright-python``)
finds no serious or critical violation, in light and in dark mode; and the layout rules of the
polish list hold (header cells and times on one line at 1280 px, a phone header about 44 px
high, a focus ring with at least 3:1 contrast, the favicon served).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from tests.support.browser import browser_page, screenshot
from tests.support.provisioning import Provisioning

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

BLOCKING = ("serious", "critical")
"""axe impacts that fail the test (moderate and minor ones are reported, not fatal)."""


@pytest.fixture
async def page(provisioning: Provisioning) -> AsyncIterator[Page]:
    """A console page signed in as admin."""
    async with browser_page(origin=provisioning.url) as page:
        await page.goto(f"{provisioning.url}/console/")
        await page.get_by_label("Admin token").fill(provisioning.admin_token)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Integrated Accounts")).to_be_visible()
        yield page


async def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    results = await Axe().run(page)
    found: list[dict[str, Any]] = results.response["violations"]
    return [v for v in found if v.get("impact") in BLOCKING]


def described(where: str, found: list[dict[str, Any]]) -> list[str]:
    """One line per violation: where, rule, and the first offending elements."""
    return [
        f"{where}: {v['id']} ({v['impact']}): "
        + "; ".join(str(n.get("target")) for n in v.get("nodes", [])[:3])
        for v in found
    ]


async def check_both_schemes(page: Page, where: str) -> list[str]:
    """axe in light mode, then dark mode (the page reloaded in each)."""
    problems: list[str] = []
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.reload()
        await page.wait_for_load_state("load")
        problems += described(f"{where} [{scheme}]", await violations(page))
    await page.emulate_media(color_scheme="light")
    return problems


async def created_server(page: Page, admin: Provisioning) -> str:
    """Create a server through the form and its review page; returns the URL-once page's
    path (the page stays open, showing the URL)."""
    await page.goto(f"{admin.url}/console/accounts/{admin.account_id}/servers/new")
    await page.get_by_label("Name").fill("a11y reader")
    await page.locator("#review-button").click()
    await page.locator("#confirm-button").click()
    await expect(page).to_have_url(re.compile(r"/servers/srv_[^/]+/created$"))
    return page.url.removeprefix(admin.url)


async def test_every_page_has_no_serious_axe_violation(
    page: Page, provisioning: Provisioning
) -> None:
    """Sign-in, accounts, account tabs, forms (also with errors), review, server, URL-once,
    API tokens, activity, history and the error page: no serious or critical violation."""
    base = f"{provisioning.url}/console"
    account = f"{base}/accounts/{provisioning.account_id}"
    problems: list[str] = []

    # The URL-once page first: it is shown once, so it is checked before anything reloads it.
    created = await created_server(page, provisioning)
    problems += described("URL-once page [light]", await violations(page))
    await page.emulate_media(color_scheme="dark")
    problems += described("URL-once page [dark]", await violations(page))
    await page.emulate_media(color_scheme="light")
    server = f"{provisioning.url}{created.removesuffix('/created')}"

    pages = {
        "accounts": f"{base}/accounts",
        "account": account,
        "account activity": f"{account}/activity",
        "account settings": f"{account}/settings",
        "account remove": f"{account}/remove",
        "new account": f"{base}/accounts/new",
        "server form": f"{account}/servers/new",
        "server page": server,
        "edit server": f"{server}/edit",
        "revoke server": f"{server}/revoke",
        "rotate server": f"{server}/rotate",
        "all servers": f"{base}/servers",
        "api tokens": f"{base}/api-tokens",
        "admin history": f"{base}/history",
        "error page": f"{base}/accounts/acc_doesnotexist0",
    }
    for where, url in pages.items():
        await page.goto(url)
        problems += await check_both_schemes(page, where)

    # Forms after a failed submit: the error summary and invalid fields.
    await page.goto(f"{base}/accounts/new")
    await page.get_by_role("button", name="Connect account").click()
    await expect(page.locator("#error-summary")).to_be_focused()
    problems += described("new account with errors", await violations(page))
    await page.goto(f"{account}/settings")
    await page.get_by_role("button", name="Check and replace token").click()
    await expect(page.locator("#error-summary")).to_be_focused()
    problems += described("settings with errors", await violations(page))

    # The review page (a POST's answer: checked as it is, in both schemes).
    await page.goto(f"{account}/servers/new")
    await page.get_by_label("Name").fill("a11y review")
    await page.locator("#review-button").click()
    await expect(page.locator("#confirm-button")).to_be_visible()
    problems += described("review [light]", await violations(page))
    await page.emulate_media(color_scheme="dark")
    problems += described("review [dark]", await violations(page))
    await screenshot(page, "a11y-review-dark")
    await page.emulate_media(color_scheme="light")

    # Signed out: the sign-in page (with the signed-out message).
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator(".notice")).to_contain_text("signed out")
    problems += await check_both_schemes(page, "sign in")

    assert not problems, "\n".join(problems)


async def test_layout_polish(page: Page, provisioning: Provisioning) -> None:
    """At 1280 px table headers and times stay on one line; the focus ring has at least 3:1
    contrast against the page; the favicon is served; no lone tab repeats the heading."""
    account = f"{provisioning.url}/console/accounts/{provisioning.account_id}"
    await page.goto(account)
    wrapped = await page.evaluate(
        """() => [...document.querySelectorAll('.list th:not(:has(.visually-hidden)), time')].filter((el) => {
            const range = document.createRange();
            range.selectNodeContents(el);
            const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.bottom)));
            return lines.size > 1;
          }).map((el) => el.textContent.trim())"""
    )
    assert wrapped == [], wrapped
    shown_h2 = await page.evaluate(
        """() => [...document.querySelectorAll('h2')].filter((h) =>
            h.textContent.trim() === 'MCP Servers' && h.getBoundingClientRect().height > 2).length"""
    )
    assert shown_h2 == 0, "the MCP Servers tab already names the section"

    await page.keyboard.press("Tab")  # the skip link
    await page.keyboard.press("Tab")  # the brand link, in the header
    ring = await page.evaluate(
        """() => { const el = document.activeElement; const s = getComputedStyle(el);
            let bg = 'rgba(0, 0, 0, 0)', node = el;
            while (node && /rgba\\(0, 0, 0, 0\\)|transparent/.test(bg)) {
              bg = getComputedStyle(node).backgroundColor; node = node.parentElement; }
            return [s.outlineStyle, s.outlineColor, bg]; }"""
    )
    assert ring[0] != "none", ring
    assert contrast(ring[1], ring[2]) >= 3, ring

    async with httpx.AsyncClient(base_url=provisioning.url) as client:
        icon = await client.get("/console/static/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert await page.locator('link[rel="icon"]').get_attribute("href") == (
        "/console/static/favicon.svg"
    )


async def test_phone_header_is_one_short_row(provisioning: Provisioning) -> None:
    """At 375 px the header is one row, at most 64 px high, its navigation still reachable."""
    async with browser_page(width=375, height=740) as page:
        await page.goto(f"{provisioning.url}/console/")
        await page.get_by_label("Admin token").fill(provisioning.admin_token)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Integrated Accounts")).to_be_visible()
        box = await page.locator("header.top").bounding_box()
        assert box is not None
        assert box["height"] <= 64, box
        await expect(page.get_by_role("link", name="API tokens")).to_be_attached()
        await page.get_by_role("link", name="API tokens").click()
        await expect(page.get_by_role("heading", name="API tokens", level=1)).to_be_visible()
        assert await violations(page) == []
        await screenshot(page, "phone-api-tokens")


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two CSS ``rgb()``/``rgba()`` colours."""

    def luminance(color: str) -> float:
        parts = [float(x) for x in re.findall(r"[\d.]+", color)[:3]]
        linear = [
            c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4
            for c in parts
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


async def test_times_show_in_the_browsers_zone(page: Page, provisioning: Provisioning) -> None:
    """A browser in India sees local times with their zone; the UTC time is the tooltip."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Kolkata"})
    await page.goto(f"{provisioning.url}/console/accounts")
    first = page.locator("#accounts time").first
    await expect(first).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    utc = await first.get_attribute("title")
    shown = await first.inner_text()
    assert utc is not None
    assert not shown.endswith("UTC"), shown
    assert "GMT+5:30" in shown or "IST" in shown, shown
    hours, minutes = (int(x) for x in utc.split()[1].split(":"))
    local = (hours * 60 + minutes + 330) % 1440
    assert f"{local // 60:02d}:{local % 60:02d}" in shown, (utc, shown)


async def test_copied_looks_different_from_copy(page: Page, provisioning: Provisioning) -> None:
    """After a copy button is pressed it says so and changes colour, then turns back."""
    await created_server(page, provisioning)
    button = page.locator("button[data-copy]").first
    before = await button.evaluate("b => [b.textContent, getComputedStyle(b).backgroundColor]")
    await button.click()
    await expect(button).to_have_class(re.compile(r"\bcopied\b"))
    await expect(button).to_contain_text("Copied")
    after = await button.evaluate("b => [b.textContent, getComputedStyle(b).backgroundColor]")
    assert after[1] != before[1], (before, after)
    await expect(button).not_to_have_class(re.compile(r"\bcopied\b"), timeout=5000)
