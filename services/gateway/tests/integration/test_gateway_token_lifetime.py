"""An open Socket.IO page lives no longer than its token: every client event checks it again, the
socket ends when the token expires, and a revocation ends the pages on every gateway instance."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
import pytest
import socketio
from sqlalchemy import update

from shared.db import Database
from shared.messages import ActivationCompleted, QrIssued, SessionLoggedOut
from shared.models import MarketplaceToken
from testkit.environment import TEST_SECRETS
from testkit.processes import eventually


async def _onboard(gateway, salon_ids: list[int]) -> tuple[str, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(gateway.redirect_url(salon_ids), allow_redirects=False) as response,
    ):
        assert response.status == 302
        token = gateway.token_from(response.headers["Location"])
    return token, jwt.decode(token, options={"verify_signature": False})["sub"]


async def _ended(browser) -> None:
    async def disconnected() -> bool:
        return not browser.client.connected

    await eventually(disconnected, timeout=10)


def _qr(connection_id: str) -> QrIssued:
    return QrIssued(
        session_id=connection_id,
        qr=f"2@qr-{uuid.uuid4()},key,key,key",
        index=1,
        expires_at=datetime.now(UTC) + timedelta(seconds=20),
    )


async def test_a_page_on_another_instance_is_ended_when_its_user_starts_over(
    gateway, second_gateway, browsers, new_salons
) -> None:
    salon_ids = new_salons(2)
    old_token, _ = await _onboard(gateway, salon_ids)
    page = browsers()
    await page.connect(second_gateway.url, old_token)
    await page.wait_for("status")

    await _onboard(gateway, salon_ids)

    (revoked,) = await page.wait_for("revoked")
    assert revoked["reason"] == "superseded" and revoked["action"] == "restart"
    assert "другой, более новой ссылке" in revoked["message"]
    await _ended(page)


async def test_a_revoked_token_gets_nothing_more_on_its_next_event(
    gateway, database: Database, browsers, new_salons, command_tap
) -> None:
    token, connection_id = await _onboard(gateway, new_salons(1))
    page = browsers()
    await page.connect(gateway.url, token)
    await page.wait_for("status")
    # Revoked in the database alone, without the event that would end the page at once.
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            update(MarketplaceToken)
            .where(MarketplaceToken.connection_id == uuid.UUID(connection_id))
            .values(revoked_at=datetime.now(UTC))
        )
        await uow.commit()

    await page.client.emit("request-qr", {}, namespace="/marketplace")

    (error,) = await page.wait_for("error")
    assert error["code"] == "token_revoked" and error["action"] == "restart"
    await _ended(page)
    await asyncio.sleep(0.3)
    assert await command_tap.get(fail=False) is None  # no login was started for it


async def test_a_page_is_ended_when_its_token_expires(
    gateway, database: Database, browsers, new_salons, publisher
) -> None:
    _, connection_id = await _onboard(gateway, new_salons(1))
    # A token of that connection that expires in two seconds, recorded as the gateway does.
    jti = uuid.uuid4()
    expires = datetime.now(UTC) + timedelta(seconds=2)
    short = jwt.encode(
        {
            "sub": connection_id,
            "jti": str(jti),
            "aud": "onboarding",
            "iat": int(datetime.now(UTC).timestamp()),
            "exp": int(expires.timestamp()),
        },
        TEST_SECRETS["JWT_SECRET"],
        algorithm="HS256",
    )
    async with database.unit_of_work() as uow:
        uow.session.add(
            MarketplaceToken(jti=jti, connection_id=uuid.UUID(connection_id), expires_at=expires)
        )
        await uow.commit()
    page = browsers()
    await page.connect(gateway.url, short)
    await page.wait_for("status")

    (error,) = await page.wait_for("error", timeout=10)
    assert error["code"] == "token_expired"
    await _ended(page)
    await publisher.send(_qr(connection_id), connection_id)
    await asyncio.sleep(0.5)
    assert "qr" not in page.received


async def test_activation_ends_the_page_after_telling_it_it_is_done(
    gateway, browsers, new_salons, publisher
) -> None:
    salon_ids = new_salons(1)
    token, connection_id = await _onboard(gateway, salon_ids)
    page = browsers()
    await page.connect(gateway.url, token)
    await page.wait_for("status")

    await publisher.send(
        ActivationCompleted(connection_id=connection_id, salon_ids=salon_ids), connection_id
    )

    (revoked,) = await page.wait_for("revoked")
    assert revoked["reason"] == "activated"
    assert page.received["connected"] == [{"salonIds": salon_ids}]
    await _ended(page)
    refused = browsers()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(gateway.url, token)
    (data,) = await refused.wait_for("connect_error")
    assert data["data"]["code"] == "token_revoked"


async def test_an_uninstall_ends_the_page(gateway, browsers, new_salons, publisher) -> None:
    token, connection_id = await _onboard(gateway, new_salons(1))
    page = browsers()
    await page.connect(gateway.url, token)
    await page.wait_for("status")

    await publisher.send(
        SessionLoggedOut(session_id=connection_id, reason="uninstalled"), connection_id
    )

    (revoked,) = await page.wait_for("revoked")
    assert revoked["reason"] == "uninstalled"
    assert "error" not in page.received
    await _ended(page)
