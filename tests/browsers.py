"""Headless Chromium for the page tests: Debian's chromium with the flags a root container
needs (see shared pitfalls), a fresh profile per launch, and screenshots for a person to read."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


async def launched_browser() -> AsyncIterator[Browser]:
    """The body of the ``browser`` fixture (tests/conftest.py)."""
    if not Path(CHROMIUM).exists():
        # A failure, not a skip: a page test that quietly does not run proves nothing.
        pytest.fail(f"no Chromium at {CHROMIUM} (make test installs Debian's chromium)")
    # Playwright gives every launch a fresh, empty profile directory of its own.
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def shot(page: Page, name: str) -> None:
    """A full-page screenshot in tests/artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def console_page(
    browser: Browser, base: str, username: str, size: dict[str, int], password: str | None = None
) -> Page:
    """A console signed in as ``username`` (password ``<username>-password`` unless given) in a
    window of ``size``, once its socket is online."""
    page = await (await browser.new_context(viewport=size)).new_page()  # type: ignore[arg-type]
    await page.goto(f"{base}/console")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password or f"{username}-password")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "online")
    return page


async def no_sideways_scroll(page: Page) -> None:
    """The page fits its window's width (nothing runs off to the right)."""
    wide, inner = await page.evaluate(
        "() => [document.scrollingElement.scrollWidth, window.innerWidth]"
    )
    assert wide <= inner, f"the page is {wide}px wide in a {inner}px window"
