"""A redirect proves who the YClients user is, not that the salons are theirs: a salon being
connected stays bound to the user who opened it, and nobody else's signed redirect can take it."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import select, update
from yclients_sandbox.config import UserConfig

from shared.db import Database
from shared.models import Company, Connection, IntegrationStatus, MarketplaceToken
from testkit.processes import eventually

STRANGER = UserConfig(id=777001, name="Чужой Администратор", phone="79990000001")


async def _get(url: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as response:
        return response.status, dict(response.headers), await response.text()


async def _open(gateway, salon_ids: list[int], user: UserConfig | None = None) -> str:
    status, headers, body = await _get(gateway.redirect_url(salon_ids, user=user))
    assert status == 302, body
    return gateway.token_from(headers["Location"])


async def _status(gateway, token: str) -> tuple[int, dict]:
    claims = token.split(".")[1]
    connection_id = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"]
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{gateway.url}/marketplace/api/status/{connection_id}",
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status, await response.json()


async def _companies(database: Database, salon_ids: list[int]) -> dict[int, Company]:
    async with database.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(Company).where(Company.id.in_(salon_ids)))).all()
        await uow.commit()
    return {row.id: row for row in rows}


async def _metric(gateway, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{gateway.url}/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_strangers_signed_redirect_cannot_take_a_pending_salon(
    gateway, database, new_salons
) -> None:
    salon_ids = new_salons(2)
    victim_token = await _open(gateway, salon_ids)
    victim = await _companies(database, salon_ids)
    refused_before = await _metric(
        gateway, 'gateway_redirects_total{outcome="claimed_by_another_user"}'
    )

    status, headers, body = await _get(gateway.redirect_url(salon_ids, user=STRANGER))

    assert status == 409
    assert "Location" not in headers
    assert "другой пользователь YClients" in body
    assert "Анна" not in body  # nothing about who is connecting them
    after = await _companies(database, salon_ids)
    for salon_id in salon_ids:
        assert after[salon_id].connection_id == victim[salon_id].connection_id
        assert after[salon_id].marketplace_user_id == "1209543"
        assert after[salon_id].salon_name == victim[salon_id].salon_name
    code, state = await _status(gateway, victim_token)
    assert code == 200 and state["stage"] == "waiting"
    assert state["user"] == {"name": "Анна Смирнова"}
    assert (
        await _metric(gateway, 'gateway_redirects_total{outcome="claimed_by_another_user"}')
        == refused_before + 1
    )
    audit = [
        json.loads(line)
        for line in gateway.process.logs().splitlines()
        if "another yclients user" in line
    ]
    assert any(
        entry.get("audit") is True
        and entry["marketplace_user_id"] == str(STRANGER.id)
        and sorted(entry["salon_ids"]) == sorted(salon_ids)
        for entry in audit
    )


@pytest.mark.parametrize(
    "status", [IntegrationStatus.ACTIVATION_FAILED, IntegrationStatus.UNINSTALLED]
)
async def test_failed_and_uninstalled_salons_being_reconnected_are_bound_too(
    gateway, database, new_salons, status
) -> None:
    salon_ids = new_salons(1)
    await _open(gateway, salon_ids)
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            update(Company).where(Company.id.in_(salon_ids)).values(integration_status=status)
        )
        await uow.commit()

    code, _, _ = await _get(gateway.redirect_url(salon_ids, user=STRANGER))
    assert code == 409


async def test_once_the_claim_has_ended_another_user_may_connect(
    gateway, database, new_salons
) -> None:
    salon_ids = new_salons(1)
    await _open(gateway, salon_ids)
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            update(Company)
            .where(Company.id.in_(salon_ids))
            .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        await uow.commit()

    await _open(gateway, salon_ids, user=STRANGER)
    (company,) = (await _companies(database, salon_ids)).values()
    assert company.marketplace_user_id == str(STRANGER.id)
    assert company.claimed_until > datetime.now(UTC) + timedelta(minutes=50)


async def test_the_same_user_may_start_over_and_the_old_page_is_ended(
    gateway, database, new_salons, command_tap
) -> None:
    salon_ids = new_salons(2)
    first_token = await _open(gateway, salon_ids)
    _, first = await _status(gateway, first_token)

    second_token = await _open(gateway, salon_ids)

    code, refusal = await _status(gateway, first_token)
    assert (code, refusal["error"]) == (401, "token_revoked")
    code, state = await _status(gateway, second_token)
    assert code == 200 and [s["id"] for s in state["salons"]] == sorted(salon_ids)
    async with database.unit_of_work() as uow:
        old = await uow.session.get(Connection, uuid.UUID(first["sessionId"]))
        revoked = await uow.session.scalars(
            select(MarketplaceToken.revoked_at).where(
                MarketplaceToken.connection_id == uuid.UUID(first["sessionId"])
            )
        )
        assert old is not None and old.status == "superseded"
        assert all(at is not None for at in revoked)

    async def logout_of_the_old_login() -> bool:
        while (message := await command_tap.get(fail=False, no_ack=True)) is not None:
            body = json.loads(message.body)
            if (
                body["type"] == "wa.session.logout"
                and body["payload"]["session_id"] == first["sessionId"]
            ):
                return body["payload"]["reason"] == "superseded"
        return False

    assert await eventually(logout_of_the_old_login, timeout=10)


async def test_connected_salons_are_named_only_to_the_user_who_connected_them(
    gateway, database, yclients, new_salons
) -> None:
    (salon_id,) = new_salons(1)
    await _open(gateway, [salon_id])
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            update(Company)
            .where(Company.id == salon_id)
            .values(integration_status="active", salon_name="Салон «Тайна»")
        )
        await uow.commit()
    await yclients.control.put_salon(salon_id, status="active")

    _, _, own = await _get(gateway.redirect_url([salon_id]))
    status, _, strangers = await _get(gateway.redirect_url([salon_id], user=STRANGER))

    assert "Уже подключено" in own and "Салон «Тайна»" in own
    assert status == 200 and "Уже подключено" in strangers
    assert "Тайна" not in strangers and "подключено</strong>" not in strangers


async def test_a_salon_yclients_no_longer_has_installed_can_be_connected_again(
    gateway, database, yclients, new_salons, command_tap
) -> None:
    (salon_id,) = new_salons(1)
    old_token = await _open(gateway, [salon_id])
    _, old = await _status(gateway, old_token)
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            update(Company).where(Company.id == salon_id).values(integration_status="active")
        )
        await uow.commit()
    # We missed the uninstall: YClients has the salon pending again (the admin clicked again).
    await yclients.control.put_salon(salon_id, status="pending")

    new_token = await _open(gateway, [salon_id])

    (company,) = (await _companies(database, [salon_id])).values()
    assert company.integration_status == "pending"
    assert str(company.connection_id) != old["sessionId"]
    assert (await _status(gateway, new_token))[0] == 200
    assert (await _status(gateway, old_token))[0] == 401
