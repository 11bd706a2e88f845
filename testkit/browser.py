"""Debian's headless Chromium driven by Playwright, and what a phone camera does with a page."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import zxingcpp
from PIL import Image
from playwright.async_api import Browser, ConsoleMessage, Page, ViewportSize, async_playwright

from testkit.environment import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE_VIEWPORT: ViewportSize = {"width": 360, "height": 780}
SCREENSHOTS = ROOT / "var" / "screenshots"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's chromium (``make system-deps``); Playwright never downloads a browser here."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def phone_page(browser: Browser) -> AsyncIterator[Page]:
    """A 360 px wide page that collects console errors and script errors in ``page.problems``."""
    context = await browser.new_context(viewport=PHONE_VIEWPORT, locale="ru-RU")
    page = await context.new_page()
    problems: list[str] = []
    page.problems = problems  # type: ignore[attr-defined]

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        yield page
    finally:
        await context.close()


async def stage_of(page: Page) -> str | None:
    return await page.get_attribute("#app", "data-stage")


async def wait_for_stage(page: Page, stage: str, timeout: float = 15) -> None:
    await page.wait_for_selector(f'#app[data-stage="{stage}"]', timeout=timeout * 1000)


async def scan_qr_on_page(page: Page) -> str:
    """What a phone's camera reads from the QR on the screen (a screenshot of it, decoded)."""
    shot = await page.locator("#qr-image").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert len(found) == 1, "no readable QR code on the page"
    return str(found[0].text)


async def snap(page: Page, name: str, directory: Path = SCREENSHOTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
