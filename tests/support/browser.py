"""A real browser for the console tests: Debian's Chromium, headless, driven by Playwright.

Playwright's own browser download is not reachable here, so it is pointed at the system
Chromium (``STACKMCP_TEST_CHROMIUM``, else ``chromium`` on PATH), which ``bin/install-chromium``
installs from Debian's registry when it is missing. Screenshots go to ``artifacts/console/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "console"

# Without the background-networking switches Chromium keeps calling Google's hosts, which this
# closed network refuses; --no-sandbox because CI runs the tests as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]


def chromium_executable() -> str:
    """The Chromium binary to drive, installing Debian's package first when it is missing."""
    configured = os.environ.get("STACKMCP_TEST_CHROMIUM")
    if configured:
        return configured
    found = shutil.which("chromium")
    if found is None:
        subprocess.run([str(ROOT / "bin" / "install-chromium")], check=True, timeout=600)
        found = shutil.which("chromium")
    assert found, "bin/install-chromium ran but no chromium is on PATH"
    return found


@asynccontextmanager
async def browser_page(
    *, width: int = 1280, height: int = 900, origin: str | None = None, javascript: bool = True
) -> AsyncIterator[Page]:
    """A fresh headless Chromium page (own profile); ``origin`` may use the clipboard."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(
                viewport={"width": width, "height": height}, java_script_enabled=javascript
            )
            if origin:
                await context.grant_permissions(
                    ["clipboard-read", "clipboard-write"], origin=origin
                )
            page = await context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            await browser.close()


DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
"""The screenshots the README and the operator guide show."""


async def docs_screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Save ``name`` in ``artifacts/console/`` and, only with ``STACKMCP_DOCS_SCREENSHOTS=1``,
    in ``docs/screenshots/`` (so a test run leaves the repository as it found it)."""
    await screenshot(page, name)
    if os.environ.get("STACKMCP_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(DOCS_SCREENSHOTS / f"{name}.png"), full_page=full_page)


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as ``artifacts/console/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
