"""Webhooks leave with YClients' policy: two retries on network error, 429 or 5xx, then drop."""

from __future__ import annotations

import itertools
import socket
from datetime import datetime

import pytest
from yclients_sandbox.testing import SandboxControlError, run_sandbox

pytestmark = pytest.mark.asyncio


def outcomes(delivery):
    return [attempt["outcome"] for attempt in delivery["attempts"]]


async def install(sandbox, http, body_for, salon_id=101):
    await sandbox.control.consent([salon_id])
    async with http.post(
        f"{sandbox.url}/marketplace/partner/callback", json=body_for(salon_id)
    ) as response:
        assert response.status == 201


async def test_two_failures_then_success_is_delivered_on_the_third_attempt(sandbox, receiver):
    receiver.statuses = [500, 503]

    delivery = await sandbox.control.send_lifecycle(101, "freeze")

    assert outcomes(delivery) == ["retry", "retry", "delivered"]
    assert [attempt["status"] for attempt in delivery["attempts"]] == [500, 503, 200]
    assert delivery["outcome"] == "delivered"
    assert len(receiver.received) == 3
    times = [datetime.fromisoformat(attempt["time"]) for attempt in delivery["attempts"]]
    delay = sandbox.config.webhook_retry_delay_seconds
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    assert all(gap >= delay for gap in gaps)


async def test_always_failing_receiver_gets_exactly_three_attempts_then_drop(sandbox, receiver):
    receiver.statuses = [500] * 10

    delivery = await sandbox.control.send_lifecycle(101, "uninstall")

    assert outcomes(delivery) == ["retry", "retry", "dropped"]
    assert delivery["outcome"] == "dropped"
    assert len(receiver.received) == 3
    assert [d["outcome"] for d in await sandbox.control.deliveries()] == ["dropped"]


async def test_429_is_retried_and_other_4xx_are_not(sandbox, receiver):
    receiver.statuses = [429]
    assert outcomes(await sandbox.control.send_lifecycle(101, "freeze")) == ["retry", "delivered"]

    receiver.statuses = [404]
    delivery = await sandbox.control.send_lifecycle(101, "freeze")
    assert outcomes(delivery) == ["rejected"]


async def test_network_error_is_retried_then_dropped():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    async with run_sandbox(
        callback_url=f"http://127.0.0.1:{closed_port}/callback/yclients",
        webhook_retry_delay_seconds=0.01,
    ) as sandbox:
        delivery = await sandbox.control.send_lifecycle(101, "uninstall")

    assert outcomes(delivery) == ["retry", "retry", "dropped"]
    assert all(attempt["status"] is None and attempt["error"] for attempt in delivery["attempts"])


async def test_lifecycle_body_and_extra_payment_fields(sandbox, receiver):
    await sandbox.control.send_lifecycle(102, "payment", {"payment_sum": 1990})
    await sandbox.control.send_lifecycle(102, "something_new")

    bodies = [body for _, body in receiver.received]
    token = sandbox.config.partner_token
    assert bodies == [
        {
            "salon_id": 102,
            "application_id": 45,
            "event": "payment",
            "partner_token": token,
            "payment_sum": 1990,
        },
        {"salon_id": 102, "application_id": 45, "event": "something_new", "partner_token": token},
    ]


async def test_lifecycle_events_change_the_installation_first(sandbox, http, body_for):
    await install(sandbox, http, body_for)

    await sandbox.control.send_lifecycle(101, "freeze")
    assert (await sandbox.control.salon(101))["status"] == "freezed"
    await sandbox.control.send_lifecycle(101, "payment")
    assert (await sandbox.control.salon(101))["status"] == "active"
    await sandbox.control.send_lifecycle(101, "uninstall")
    assert (await sandbox.control.salon(101))["status"] == "uninstalled"


async def test_entity_webhooks_go_to_the_registered_urls_one_by_one(
    sandbox, http, body_for, receiver
):
    await install(sandbox, http, body_for)

    deliveries = await sandbox.control.send_entity(101, "record", "create", count=2)

    assert [d["outcome"] for d in deliveries] == ["delivered", "delivered"]
    paths = {path for path, _ in receiver.received}
    assert paths == {"/webhook/101/secret"}
    first, second = (body for _, body in receiver.received)
    assert first["company_id"] == 101
    assert first["resource"] == "record"
    assert first["status"] == "create"
    assert first["resource_id"] != second["resource_id"]
    record = first["data"]
    assert record["id"] == first["resource_id"]
    assert record["company_id"] == 101
    assert record["services"][0]["title"]
    assert record["client"]["phone"].startswith("+7")
    assert record["deleted"] is False


async def test_entity_webhooks_as_one_array(sandbox, http, body_for, receiver):
    await install(sandbox, http, body_for)

    deliveries = await sandbox.control.send_entity(101, status="delete", count=3, as_array=True)

    assert len(deliveries) == 1
    [(_, body)] = receiver.received
    assert isinstance(body, list)
    assert [item["status"] for item in body] == ["delete"] * 3
    assert all(item["data"]["deleted"] for item in body)


async def test_entity_webhook_needs_an_installed_salon(sandbox):
    with pytest.raises(SandboxControlError) as refused:
        await sandbox.control.send_entity(101)

    assert refused.value.status == 409
