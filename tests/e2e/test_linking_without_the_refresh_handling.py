"""The same onboarding with the bridge's ``companion_reg_refresh`` handling switched off
(``WA_BRIDGE_HANDLE_REG_REFRESH=0``, plain Baileys rc14): it fails the way real users report it —
the phone says «Couldn't link device» at every scan, the page never gets a QR it can link with,
and the codes run out. This is what shows that the handling makes the other test pass."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from testkit import browser
from testkit.browser import scan_qr_on_page, wait_for_stage
from testkit.environment import TestEnvironment
from testkit.system import RunningSystem, WhatsAppEmulator, running_system

SALONS = [251]


@pytest.fixture(scope="module")
async def unhandled(
    test_env: TestEnvironment,
    sandbox,  # type: ignore[no-untyped-def]
    emulator: WhatsAppEmulator,
) -> AsyncIterator[RunningSystem]:
    async with running_system(
        test_env,
        sandbox.url,
        emulator,
        qr_timeout_ms=3000,
        services=("gateway", "wa-session"),
        WA_BRIDGE_HANDLE_REG_REFRESH="0",
    ) as system:
        yield system


async def test_without_the_handling_no_scan_links_and_the_codes_run_out(
    unhandled: RunningSystem,
    sandbox,  # type: ignore[no-untyped-def]
    emulator: WhatsAppEmulator,
) -> None:
    query = urlsplit(await sandbox.control.consent(SALONS)).query
    async with browser.chromium() as chromium, browser.phone_page(chromium) as page:
        await page.goto(f"{unhandled.urls['gateway']}/auth/yclients/redirect?{query}")
        await wait_for_stage(page, "qr", timeout=45)
        refusals = 0
        while await browser.stage_of(page) == "qr":
            try:
                qr = await scan_qr_on_page(page)
            except AssertionError:  # caught between two images, or as the page moved on
                await page.wait_for_timeout(200)
                continue
            status, body = await emulator.call("POST", "/scan", {"qr": qr})
            if status == 409:
                refusals += 1
                assert "Couldn't link device" in body["error"]
            else:
                assert status == 404  # the QR rotated away meanwhile
            await page.wait_for_timeout(1000)
        await wait_for_stage(page, "expired", timeout=30)
        await browser.snap(page, "e2e-without-refresh-handling-expired")
    assert refusals >= 2
    state = await emulator.control("GET", "/state")
    assert state["devices"] == []  # type: ignore[index]  (nothing ever linked)
