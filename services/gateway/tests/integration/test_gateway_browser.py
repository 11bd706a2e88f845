"""The onboarding page in headless Chromium (Debian's), 360 px wide: from the YClients redirect
for two salons to "done", driven by events published on the bus. Screenshots of each state go
to var/screenshots/.

The steps are plain helpers so the end-to-end test with the real wa-session and activation can
reuse them and replace the published events with the real ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page
from sqlalchemy import select

from shared.bus import Publisher
from shared.db import Database
from shared.messages import (
    ActivationCompleted,
    ActivationFailed,
    ActivationStarted,
    Envelope,
    PairingCodeIssued,
    Payload,
    QrIssued,
    SessionConnected,
)
from shared.models import Company
from testkit import browser
from testkit.browser import PHONE_VIEWPORT, scan_qr_on_page, stage_of, wait_for_stage
from testkit.processes import eventually


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    async with browser.chromium() as launched:
        yield launched


@pytest.fixture
async def phone_page(chromium: Browser) -> AsyncIterator[Page]:
    async with browser.phone_page(chromium) as page:
        yield page


async def publish_until_stage(
    page: Page, publisher: Publisher, payload: Payload, correlation_id: str, stage: str
) -> None:
    """Publish until the page shows ``stage``: the gateway instances' Socket.IO listeners bind
    in the background, so the very first event of a run may find no listener yet."""

    async def shown() -> bool:
        await publisher.send(payload, correlation_id)
        for _ in range(10):
            if await stage_of(page) == stage:
                return True
            await asyncio.sleep(0.1)
        return False

    await eventually(shown, timeout=20, interval=0)


async def connection_of(database: Database, salon_ids: list[int]) -> str:
    async def probe() -> str | None:
        async with database.unit_of_work() as uow:
            ids = set(
                await uow.session.scalars(
                    select(Company.connection_id).where(Company.id.in_(salon_ids))
                )
            )
        return str(ids.pop()) if len(ids) == 1 and None not in ids else None

    return await eventually(probe, timeout=10)


async def snap(page: Page, directory: str, name: str) -> None:
    await browser.snap(page, f"gateway-{name}", Path(directory))


def qr_event(connection_id: str, index: int, seconds_left: float) -> QrIssued:
    return QrIssued(
        session_id=connection_id,
        qr=f"2@browser-test-{index},a,b,c",
        index=index,
        expires_at=datetime.now(UTC) + timedelta(seconds=seconds_left),
    )


async def test_the_page_walks_from_redirect_to_done_on_a_phone_screen(
    gateway, second_gateway, phone_page, database, publisher, new_salons, screenshots_dir
):
    page = phone_page
    salon_ids = new_salons(2)
    # The browser follows YClients' redirect to the gateway, then on to the page.
    await page.goto(gateway.redirect_url(salon_ids, ids_form="brackets"))
    await wait_for_stage(page, "waiting")
    assert page.url == f"{gateway.url}/marketplace/onboarding"  # the token left the address bar
    assert "Подключение AI Admin" in await page.inner_text("h1")
    await snap(page, screenshots_dir, "1-waiting")
    connection_id = await connection_of(database, salon_ids)

    # A QR that runs out with no next one: the page offers to get a new one.
    await publish_until_stage(page, publisher, qr_event(connection_id, 1, 1), connection_id, "qr")
    await wait_for_stage(page, "expired", timeout=10)
    assert "QR истёк" in await page.inner_text('[data-view="expired"]')
    await snap(page, screenshots_dir, "2-qr-expired")

    fresh_qr = qr_event(connection_id, 2, 20)
    await publisher.send(fresh_qr, connection_id)
    await wait_for_stage(page, "qr")
    await page.wait_for_function("document.getElementById('qr-image').complete", timeout=5000)
    assert await scan_qr_on_page(page) == fresh_qr.qr
    image = await page.get_attribute("#qr-image", "src")
    assert image is not None
    assert image.startswith("data:image/svg+xml;base64,")
    box = await page.locator("#qr-image").bounding_box()
    assert box is not None
    assert box["width"] >= 200
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE_VIEWPORT["width"]
    countdown = int(await page.inner_text("#qr-countdown"))
    assert 15 <= countdown <= 20
    await snap(page, screenshots_dir, "3-qr")

    await publisher.send(
        SessionConnected(session_id=connection_id, phone="79161234567"), connection_id
    )
    await wait_for_stage(page, "linked")
    await snap(page, screenshots_dir, "4-whatsapp-linked")

    await publisher.send(
        ActivationStarted(connection_id=connection_id, salon_ids=salon_ids), connection_id
    )
    await wait_for_stage(page, "activating")
    await snap(page, screenshots_dir, "5-activating")

    await publisher.send(
        ActivationCompleted(connection_id=connection_id, salon_ids=salon_ids), connection_id
    )
    await wait_for_stage(page, "done")
    assert "Готово" in await page.inner_text('[data-view="done"]')
    assert await page.get_attribute("#return-link", "href") == "https://yclients.com/appstore/"
    await snap(page, screenshots_dir, "6-done")

    # Nothing horizontal to scroll on a 360 px screen, and no CSP violation or script error.
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    assert page.problems == []  # type: ignore[attr-defined]


async def test_a_forged_redirect_shows_a_russian_error_page(gateway, phone_page, screenshots_dir):
    page = phone_page
    response = await page.goto(
        f"{gateway.url}/auth/yclients/redirect?salon_id=12&user_data=e30&user_data_sign={'0' * 64}"
    )
    assert response is not None
    assert response.status == 403
    assert "Вернитесь в YClients и нажмите «Подключить» ещё раз" in await page.inner_text("main")
    await snap(page, screenshots_dir, "7-forged-redirect")


async def test_the_page_without_a_token_says_what_to_do(gateway, phone_page, screenshots_dir):
    page = phone_page
    await page.goto(f"{gateway.url}/marketplace/onboarding")
    await wait_for_stage(page, "error")
    assert "нажмите «Подключить» ещё раз" in await page.inner_text('[data-view="error"]')
    await snap(page, screenshots_dir, "8-no-token")


async def test_linking_by_phone_number_shows_the_pairing_code(
    gateway, phone_page, database, publisher, new_salons, command_tap, screenshots_dir
):
    page = phone_page
    salon_ids = new_salons(1)
    await page.goto(gateway.redirect_url(salon_ids))
    await wait_for_stage(page, "waiting")
    connection_id = await connection_of(database, salon_ids)
    await publish_until_stage(page, publisher, qr_event(connection_id, 1, 20), connection_id, "qr")

    await page.click('[data-action="show-phone"]')
    await wait_for_stage(page, "phone")
    await page.fill("#phone", "+7 916 123-45-67")
    await page.click('#phone-form button[type="submit"]')

    async def pairing_request() -> Envelope | None:
        message = await command_tap.get(fail=False, no_ack=True)
        envelope = Envelope.from_bytes(message.body) if message else None
        if envelope and envelope.payload.get("pairing_phone"):
            return envelope
        return None

    command = await eventually(pairing_request, timeout=10)
    assert (command.payload["session_id"], command.payload["pairing_phone"]) == (
        connection_id,
        "79161234567",
    )

    await publisher.send(
        PairingCodeIssued(session_id=connection_id, code="K7QW2M9X"), connection_id
    )
    await page.wait_for_selector("#pairing-code:not([hidden])", timeout=10_000)
    assert await page.inner_text("#pairing-code") == "K7QW2M9X"
    await snap(page, screenshots_dir, "9-pairing-code")

    # Activation fails for good: the page says why and what to do next.
    await publisher.send(
        ActivationFailed(
            connection_id=connection_id,
            reason="window_expired",
            message="Прошло больше часа с нажатия «Подключить».",
            retryable=False,
        ),
        connection_id,
    )
    await wait_for_stage(page, "error")
    text = await page.inner_text('[data-view="error"]')
    assert "Прошло больше часа" in text
    assert "нажмите «Подключить» ещё раз" in text
    await snap(page, screenshots_dir, "10-activation-failed")
    assert page.problems == []  # type: ignore[attr-defined]
