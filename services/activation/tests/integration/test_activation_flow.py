"""Activation, as a real process, against the YClients sandbox: the install flow, YClients'
failures and refusals, the window, the lifecycle and the WhatsApp channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from activation.credentials import api_key_for, api_key_hash_for, new_webhook_secret

from shared.crypto import hash_api_key
from shared.messages import (
    ActivationFailed,
    LifecycleReceived,
    LogoutSession,
    RetryActivation,
    SessionConnected,
    SessionLoggedOut,
)
from shared.models import Company
from shared.yclients import RateLimiter, YClientsClient
from testkit.environment import TEST_SECRETS
from testkit.processes import eventually

INSTALL = "/marketplace/partner/callback"
UPDATE_CHANNEL = "/marketplace/application/update_channel"
PHONE = "79161234567"
TOKEN = TEST_SECRETS["YCLIENTS_PARTNER_TOKEN"]

pytestmark = pytest.mark.usefixtures("activation")


async def connect_whatsapp(world, salons: list[int]) -> str:
    """The admin consented in YClients for these salons, then linked WhatsApp."""
    await world.sandbox.control.consent(salons)
    connection_id = await world.seed_connection(salons)
    await world.bus.send(SessionConnected(session_id=connection_id, phone=PHONE), connection_id)
    return connection_id


async def test_two_salons_through_one_connection_are_installed_once_each(world):
    salons = world.salon_ids.take(2)
    connection_id = await connect_whatsapp(world, salons)

    completed = await world.bus.wait_for(connection_id, "activation.completed")
    assert completed.payload["salon_ids"] == salons
    types = [envelope.type for envelope in world.bus.of(connection_id)]
    assert types.index("activation.started") < types.index("activation.completed")
    assert await world.successful_installs() == dict.fromkeys(salons, 1)

    rows = await world.companies(salons)
    sandbox_salons = {salon["salon_id"]: salon for salon in await world.sandbox.control.salons()}
    for company in rows:
        assert company.integration_status == "active"
        assert company.activated_at is not None
        assert company.whatsapp_phone == PHONE
        assert company.whatsapp_channel_enabled is True
        installed = sandbox_salons[company.id]
        assert installed["status"] == "active"
        assert installed["channels"] == {"whatsapp": True}
        # YClients got the key; we kept only its hash, and a URL carrying the salon's secret.
        assert company.api_key_hash == hash_api_key(installed["api_key"])
        assert installed["webhook_urls"] == [
            f"https://hooks.test.example/callback/yclients/{company.webhook_secret}"
        ]
    assert len({company.webhook_secret for company in rows}) == 2
    assert [attempt.outcome for attempt in await world.attempts(salons)] == ["installed"] * 2

    # The same event again (WhatsApp reconnected): nothing is installed twice.
    await world.bus.send(SessionConnected(session_id=connection_id, phone=PHONE), connection_id)
    await eventually(
        lambda: _count(world.bus.of(connection_id, "activation.completed"), 2), timeout=20
    )
    assert await world.successful_installs() == dict.fromkeys(salons, 1)


async def test_500_twice_then_201_and_a_429_end_in_one_install_each(world):
    salons = world.salon_ids.take(2)
    await world.sandbox.control.program_faults(
        INSTALL, [{"status": 500}, {"status": 500}, {"status": 429}]
    )
    connection_id = await connect_whatsapp(world, salons)

    await world.bus.wait_for(connection_id, "activation.completed")
    statuses = [call["status"] for call in await world.sandbox.control.calls(INSTALL)]
    # The first salon meets all three faults (the client retries each), the second none.
    assert statuses == [500, 500, 429, 201, 201]
    assert await world.successful_installs() == dict.fromkeys(salons, 1)
    assert {company.integration_status for company in await world.companies(salons)} == {"active"}


async def test_an_answer_lost_after_the_install_counts_as_installed(world):
    [salon] = world.salon_ids.take(1)
    # YClients installs, but every answer is lost until the retries are used up: the bus retries
    # the message later and "already installed" completes it.
    await world.sandbox.control.program_faults(
        INSTALL, [{"status": 503, "apply": True}] + [{"status": 503}] * 3
    )
    connection_id = await connect_whatsapp(world, [salon])

    await world.bus.wait_for(connection_id, "activation.completed", timeout=30)
    statuses = [call["status"] for call in await world.sandbox.control.calls(INSTALL)]
    assert statuses == [503, 503, 503, 503, 422]
    outcomes = [attempt.outcome for attempt in await world.attempts([salon])]
    assert outcomes == ["transient", "already_installed"]
    [company] = await world.companies([salon])
    assert company.integration_status == "active"


async def test_a_refusal_is_shown_with_yclients_reason_and_a_retry_completes(world):
    salons = world.salon_ids.take(2)
    await world.sandbox.control.program_faults(
        INSTALL, [{"status": 422, "message": "Филиал заблокирован."}]
    )
    connection_id = await connect_whatsapp(world, salons)

    failed = (await world.bus.wait_for(connection_id, "activation.failed")).parse(ActivationFailed)
    assert failed.reason == "rejected"
    assert failed.salon_id == salons[0]
    assert "Филиал заблокирован." in failed.message
    assert failed.retryable
    first, second = await world.companies(salons)
    assert first.integration_status == "activation_failed"
    assert first.activation_error == failed.message
    assert second.integration_status == "active"
    assert not world.bus.of(connection_id, "activation.completed")

    # «Повторить» on the page: gateway sends activation.retry.
    await world.bus.send(RetryActivation(connection_id=connection_id), connection_id)
    await world.bus.wait_for(connection_id, "activation.completed")
    assert await world.successful_installs() == dict.fromkeys(salons, 1)


async def test_past_the_window_the_admin_is_told_to_connect_again(world):
    salons = world.salon_ids.take(1)
    await world.sandbox.control.consent(salons)
    connection_id = await world.seed_connection(salons, consented_ago=timedelta(minutes=61))
    await world.bus.send(SessionConnected(session_id=connection_id, phone=PHONE), connection_id)

    failed = (await world.bus.wait_for(connection_id, "activation.failed")).parse(ActivationFailed)
    assert failed.reason == "window_expired"
    assert not failed.retryable
    assert "Нажмите «Подключить» в YClients ещё раз" in failed.message
    assert await world.sandbox.control.calls(INSTALL) == []
    [company] = await world.companies(salons)
    assert company.integration_status == "activation_failed"


async def test_past_the_window_a_salon_left_mid_install_by_a_crash_is_checked_not_failed(world):
    [salon] = world.salon_ids.take(1)
    await world.sandbox.control.consent([salon])
    connection_id = await world.seed_connection([salon], consented_ago=timedelta(minutes=61))
    # An activation committed the salon's secret, reached YClients and died before its commit.
    secret = new_webhook_secret()
    async with world.database.unit_of_work() as uow:
        company = await uow.session.get(Company, salon)
        company.webhook_secret = secret
        company.api_key_hash = api_key_hash_for(TOKEN, secret)
        company.integration_status = "activating"
        await uow.commit()
    async with aiohttp.ClientSession() as http:
        client = YClientsClient(
            http,
            base_url=world.sandbox.url,
            partner_token=TOKEN,
            application_id=45,
            limiter=RateLimiter(4),
        )
        await client.install(salon, api_key_for(TOKEN, secret), ["https://x.example"], ["whatsapp"])
    await world.sandbox.control.clear_calls()

    await world.bus.send(SessionConnected(session_id=connection_id, phone=PHONE), connection_id)
    await world.bus.wait_for(connection_id, "activation.completed")
    assert not world.bus.of(connection_id, "activation.failed")
    [company] = await world.companies([salon])
    assert company.integration_status == "active"
    assert [attempt.outcome for attempt in await world.attempts([salon])] == ["already_installed"]


async def test_uninstall_logs_whatsapp_out_once_no_salon_uses_it_and_reconnecting_works(world):
    salons = world.salon_ids.take(2)
    connection_id = await connect_whatsapp(world, salons)
    await world.bus.wait_for(connection_id, "activation.completed")

    await uninstall_in_yclients(world, salons[0])
    await eventually(lambda: _status_is(world, salons[0], "uninstalled"))
    assert not world.bus.of(connection_id, LogoutSession.message_type)

    await uninstall_in_yclients(world, salons[1])
    logout = await world.bus.wait_for(connection_id, LogoutSession.message_type)
    assert logout.payload["session_id"] == connection_id
    for company in await world.companies(salons):
        assert company.integration_status == "uninstalled"
        assert company.uninstalled_at is not None
        assert company.connection_id is None
        assert company.api_key_hash is None
        assert company.webhook_secret is None

    # "Подключить" again: a new connection installs both salons from scratch.
    again = await connect_whatsapp(world, salons)
    await world.bus.wait_for(again, "activation.completed")
    assert await world.successful_installs() == dict.fromkeys(salons, 2)
    assert {company.integration_status for company in await world.companies(salons)} == {"active"}


async def test_freeze_and_payment(world):
    [salon] = world.salon_ids.take(1)
    connection_id = await connect_whatsapp(world, [salon])
    await world.bus.wait_for(connection_id, "activation.completed")

    await world.bus.send(lifecycle(salon, "freeze"), connection_id)
    await eventually(lambda: _status_is(world, salon, "frozen"))
    await world.bus.send(lifecycle(salon, "payment"), connection_id)
    await eventually(lambda: _status_is(world, salon, "active"))
    [company] = await world.companies([salon])
    assert company.last_payment_at is not None
    assert company.frozen_at is None


async def test_a_lost_whatsapp_login_switches_the_channel_off_and_back_on(world):
    salons = world.salon_ids.take(2)
    connection_id = await connect_whatsapp(world, salons)
    await world.bus.wait_for(connection_id, "activation.completed")

    await world.bus.send(
        SessionLoggedOut(session_id=connection_id, phone=PHONE, reason="logged_out"), connection_id
    )
    await eventually(lambda: _channels_are(world, salons, {"whatsapp": False}))
    assert {c.whatsapp_channel_enabled for c in await world.companies(salons)} == {False}

    await world.bus.send(SessionConnected(session_id=connection_id, phone=PHONE), connection_id)
    await eventually(lambda: _channels_are(world, salons, {"whatsapp": True}))
    assert {c.whatsapp_channel_enabled for c in await world.companies(salons)} == {True}
    assert await world.successful_installs() == dict.fromkeys(salons, 1)
    assert len(await world.sandbox.control.calls(UPDATE_CHANNEL)) == 4


def lifecycle(salon_id: int, event: str) -> LifecycleReceived:
    received_at = datetime.now(UTC)
    return LifecycleReceived(
        dedup_key=f"{salon_id}:{event}:{received_at.timestamp()}",
        salon_id=salon_id,
        application_id=45,
        event=event,
        received_at=received_at,
        body={"salon_id": salon_id, "application_id": 45, "event": event},
    )


async def uninstall_in_yclients(world, salon_id: int) -> None:
    """The admin removed the app in YClients: the sandbox's state, then webhook-ingest's event."""
    await world.sandbox.control.send_lifecycle(salon_id, "uninstall")
    await world.bus.send(lifecycle(salon_id, "uninstall"), str(salon_id))


async def _status_is(world, salon_id: int, status: str) -> bool:
    [company] = await world.companies([salon_id])
    return company.integration_status == status


async def _channels_are(world, salon_ids: list[int], channels: dict[str, bool]) -> bool:
    salons = {salon["salon_id"]: salon for salon in await world.sandbox.control.salons()}
    return all(salons[salon_id]["channels"] == channels for salon_id in salon_ids)


async def _count(items: list[object], expected: int) -> bool:
    return len(items) >= expected
