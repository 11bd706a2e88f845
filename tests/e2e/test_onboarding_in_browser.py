"""The salon admin's whole onboarding in headless Chromium on a 360 px screen, against the real
four services, the real Baileys bridge, the WhatsApp emulator and the YClients sandbox.

The emulated phone scans the QR by decoding a screenshot of the page, as a camera would.
Screenshots of each state are saved under var/screenshots/.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from shared.db import Database
from shared.models import Company, IntegrationStatus
from testkit import browser
from testkit.browser import PHONE_VIEWPORT, scan_qr_on_page, wait_for_stage
from testkit.processes import eventually
from testkit.system import RunningSystem, WhatsAppEmulator, log_tail

SALONS = [201, 202]


async def test_admin_connects_two_salons_by_scanning_the_page(
    system: RunningSystem,
    sandbox,  # type: ignore[no-untyped-def]
    emulator: WhatsAppEmulator,
    database: Database,
) -> None:
    # YClients opens our redirect URL after the admin picked two salons and clicked «Подключить».
    query = urlsplit(await sandbox.control.consent(SALONS)).query
    redirect = f"{system.urls['gateway']}/auth/yclients/redirect?{query}"
    async with browser.chromium() as chromium, browser.phone_page(chromium) as page:
        try:
            await page.goto(redirect)
            await wait_for_stage(page, "waiting")
            await browser.snap(page, "e2e-1-waiting")
            await wait_for_stage(page, "qr", timeout=45)
            await page.wait_for_function(
                "document.getElementById('qr-image').complete", timeout=5000
            )
            await browser.snap(page, "e2e-2-qr")

            await emulator.scan_until_linked(lambda: scan_qr_on_page(page))

            await wait_for_stage(page, "done", timeout=90)
            await browser.snap(page, "e2e-3-done")
        except Exception:
            await browser.snap(page, "e2e-failure")
            print(log_tail(system))
            raise
        assert (
            await page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
        )
        assert page.problems == []  # type: ignore[attr-defined]

    installs = await sandbox.control.calls("/marketplace/partner/callback")
    assert sorted(c["body"]["salon_id"] for c in installs if c["status"] == 201) == SALONS

    async def both_active() -> bool:
        async with database.unit_of_work() as uow:
            statuses = set(
                await uow.session.scalars(
                    select(Company.integration_status).where(Company.id.in_(SALONS))
                )
            )
        return statuses == {IntegrationStatus.ACTIVE}

    await eventually(both_active, timeout=10)
