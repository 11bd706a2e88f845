"""Linking against WhatsApp as its servers behave since mid-2026, in Chromium on a phone screen:
the phone refuses the first scan («Couldn't link device») and the server sends the unpaired
companion ``companion_reg_refresh``; the page swaps in the QR re-rendered with a fresh secret,
the second scan pairs, and the salons are activated."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from shared.db import Database
from shared.models import Company, IntegrationStatus
from testkit import browser
from testkit.browser import scan_qr_on_page, stage_of, wait_for_stage
from testkit.processes import eventually
from testkit.system import RunningSystem, WhatsAppEmulator, log_tail

SALONS = [241, 242]


async def test_the_first_scan_is_refused_the_page_shows_the_new_qr_and_the_second_pairs(
    system: RunningSystem,
    sandbox,  # type: ignore[no-untyped-def]
    emulator: WhatsAppEmulator,
    database: Database,
) -> None:
    query = urlsplit(await sandbox.control.consent(SALONS)).query
    async with browser.chromium() as chromium, browser.phone_page(chromium) as page:
        try:
            await page.goto(f"{system.urls['gateway']}/auth/yclients/redirect?{query}")
            await wait_for_stage(page, "qr", timeout=45)
            first_image = await page.get_attribute("#qr-image", "src")
            first_qr = await scan_qr_on_page(page)

            status, body = await emulator.call("POST", "/scan", {"qr": first_qr})
            assert status == 409 and "Couldn't link device" in body["error"]

            # The page swaps in the re-rendered QR: same ref, a fresh secret.
            await page.wait_for_function(
                "src => document.getElementById('qr-image').src !== src", arg=first_image
            )
            assert await stage_of(page) == "qr"
            second_qr = await scan_qr_on_page(page)
            assert second_qr.split(",")[0] == first_qr.split(",")[0]
            assert second_qr.split(",")[3] != first_qr.split(",")[3]
            await browser.snap(page, "e2e-todays-whatsapp-refreshed-qr")

            status, _ = await emulator.call("POST", "/scan", {"qr": second_qr})
            assert status == 200
            await wait_for_stage(page, "done", timeout=90)
            await browser.snap(page, "e2e-todays-whatsapp-done")
        except Exception:
            await browser.snap(page, "e2e-todays-whatsapp-failure")
            print(log_tail(system))
            raise
        assert page.problems == []  # type: ignore[attr-defined]

    state = await emulator.control("GET", "/state")
    refreshes = [n for n in state["notifications"] if n["type"] == "companion_reg_refresh"]  # type: ignore[index]
    assert refreshes and all(n["acks"] == 1 for n in refreshes)

    async def activated() -> bool:
        async with database.unit_of_work() as uow:
            statuses = list(
                await uow.session.scalars(
                    select(Company.integration_status).where(Company.id.in_(SALONS))
                )
            )
            await uow.commit()
        return statuses == [IntegrationStatus.ACTIVE] * len(SALONS)

    await eventually(activated, timeout=15)
