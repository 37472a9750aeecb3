"""Headless Chromium for the page tests: Debian's chromium with the flags a root container
needs (see shared pitfalls), a fresh profile per launch, and screenshots for a person to read."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

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
