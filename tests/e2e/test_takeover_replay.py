"""The salon takeover by a replayed redirect, tried against the whole system: a stranger holding a
signed ``user_data`` of their own opens the redirect for salons another admin is connecting.

The stranger is refused, the admin's page (Chromium on a phone screen) carries on as if nothing
happened, and the admin links WhatsApp and gets both salons activated on their own number.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import select
from yclients_sandbox.config import UserConfig
from yclients_sandbox.redirect import build_redirect_url, user_payload

from shared.db import Database
from shared.models import Company, IntegrationStatus
from testkit import browser
from testkit.browser import scan_qr_on_page, stage_of, wait_for_stage
from testkit.processes import eventually
from testkit.system import RunningSystem, WhatsAppEmulator, log_tail, partner_token

SALONS = [231, 232]
STRANGER = UserConfig(id=666, name="Посторонний", phone="79990006666")


async def test_a_strangers_replayed_redirect_cannot_take_over_a_salon_mid_onboarding(
    system: RunningSystem,
    sandbox,  # type: ignore[no-untyped-def]
    emulator: WhatsAppEmulator,
    database: Database,
) -> None:
    redirect_path = f"{system.urls['gateway']}/auth/yclients/redirect"
    victim = f"{redirect_path}?{urlsplit(await sandbox.control.consent(SALONS)).query}"
    # The stranger's own user_data, signed by YClients for them, with the victim's salon ids.
    stranger = build_redirect_url(
        redirect_path, SALONS, user_payload(STRANGER, "Чужой салон"), partner_token()
    )
    async with browser.chromium() as chromium, browser.phone_page(chromium) as page:
        try:
            await page.goto(victim)
            await wait_for_stage(page, "qr", timeout=45)
            assert "Анна Смирнова" in await page.inner_text("#connecting")

            async with (
                aiohttp.ClientSession() as http,
                http.get(stranger, allow_redirects=False) as response,
            ):
                assert response.status == 409
                assert "другой пользователь YClients" in await response.text()
            await asyncio.sleep(1)  # anything the refusal might have sent the page arrives
            assert await stage_of(page) == "qr"

            await emulator.scan_until_linked(lambda: scan_qr_on_page(page))
            await wait_for_stage(page, "done", timeout=90)
            await browser.snap(page, "e2e-takeover-refused-victim-done")
        except Exception:
            await browser.snap(page, "e2e-takeover-failure")
            print(log_tail(system))
            raise
        assert page.problems == []  # type: ignore[attr-defined]

    async def activated_for_the_victim() -> bool:
        async with database.unit_of_work() as uow:
            rows = (await uow.session.scalars(select(Company).where(Company.id.in_(SALONS)))).all()
            await uow.commit()
        return all(
            row.integration_status == IntegrationStatus.ACTIVE
            and row.marketplace_user_id == str(sandbox.config.user.id)
            and row.salon_name != "Чужой салон"
            and row.whatsapp_phone is not None
            for row in rows
        ) and len(rows) == len(SALONS)

    await eventually(activated_for_the_victim, timeout=15)
    installs = await sandbox.control.calls("/marketplace/partner/callback")
    assert (
        sorted(c["body"]["salon_id"] for c in installs if c["body"]["salon_id"] in SALONS) == SALONS
    )
