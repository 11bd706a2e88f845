"""YClients' notification module with our channel: what reaches the operator URL, and when."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio
from yclients_sandbox.testing import SandboxControlError, run_sandbox

pytestmark = pytest.mark.asyncio

MOSCOW = timezone(timedelta(hours=3))
VISIT = "2026-11-25T14:00:00+03:00"
PHONE = "79990001111"


@pytest_asyncio.fixture
async def notifying(sandbox, operator, install_salon):
    """The sandbox with its operator URL set at run time, salon 101 installed with whatsapp."""
    await sandbox.control.set_notify_url(operator.url)
    await install_salon(101)
    return sandbox


def outcomes(notification):
    return [attempt["outcome"] for attempt in notification["attempts"]]


async def test_a_new_record_sends_every_field_and_header_to_the_operator(
    notifying, operator, receiver, body_for
):
    answer = await notifying.control.create_record(
        101, PHONE, client_name="Ольга Петрова", service="Маникюр", visit_at=VISIT
    )

    [(headers, body)] = operator.requests
    assert headers["Authorization"] == "Bearer api-key-101"
    assert headers["Accept"] == "application/vnd.yclients.v2+json"
    assert headers["Content-Type"] == "application/json"
    send_id = body["destination_params"]["id"]
    assert isinstance(send_id, str)
    assert send_id.isdigit()
    assert body == {
        "destination_params": {"id": send_id, "phone": PHONE},
        "from": "Салон на Тверской",
        "text": body["text"],
        "channel": "whatsapp",
        "dispatch_type": "service",
        "delivery_callback_url": (
            f"{notifying.url}/smsprovider/status/callback/{notifying.config.partner_token}"
        ),
    }
    for part in ("Салон на Тверской", "Маникюр", "25.11.2026", "14:00", "Ольга"):
        assert part in body["text"]

    notification = answer["notification"]
    assert notification["event"] == "record_create"
    assert notification["outcome"] == "delivered"
    assert outcomes(notification) == ["delivered"]
    assert notification["attempts"][0]["status"] == 200
    assert notification["attempts"][0]["answer"] == [{"id": send_id, "ext_id": f"wamid.{send_id}"}]
    [destination] = notification["destinations"]
    assert destination["ext_id"] == f"wamid.{send_id}"
    assert notification["headers"]["Authorization"] == "Bearer …-101"

    record = answer["record"]
    assert record["client_phone"] == PHONE
    assert record["visit_at"] == VISIT
    [webhook] = answer["webhooks"]
    assert webhook["kind"] == "entity"
    assert webhook["url"] == body_for(101)["webhook_urls"][0]
    [(path, entity)] = receiver.received
    assert path == "/webhook/101/secret"
    assert entity["resource"] == "record"
    assert entity["status"] == "create"
    assert entity["resource_id"] == record["id"]
    assert entity["data"]["client"]["phone"] == f"+{PHONE}"
    assert entity["data"]["services"][0]["title"] == "Маникюр"
    assert entity["data"]["datetime"] == VISIT


async def test_a_changed_record_is_notified_again(notifying, operator, receiver):
    created = await notifying.control.create_record(101, PHONE, visit_at=VISIT)

    changed = await notifying.control.change_record(
        created["record"]["id"], visit_at="2026-11-26T16:30:00+03:00"
    )

    first, second = (body for _, body in operator.requests)
    assert changed["notification"]["event"] == "record_update"
    assert "26.11.2026" in second["text"]
    assert "16:30" in second["text"]
    assert second["dispatch_type"] == "service"
    assert second["destination_params"]["id"] != first["destination_params"]["id"]
    assert [entity["status"] for _, entity in receiver.received] == ["create", "update"]


async def test_the_phone_is_sent_as_digits(notifying, operator):
    await notifying.control.create_record(101, "+7 (999) 000-11-11", visit_at=VISIT)

    [(_, body)] = operator.requests
    assert body["destination_params"]["phone"] == PHONE


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        ("channel_off", "выключен"),
        ("no_notify_url", "не задан"),
        ("frozen", "не активно"),
    ],
)
async def test_no_send_while_the_channel_cannot_deliver(notifying, operator, http, prepare, reason):
    if prepare == "channel_off":
        body = {"salon_id": 101, "application_id": 45, "channel_slug": "whatsapp"}
        async with http.post(
            f"{notifying.url}/marketplace/application/update_channel",
            json={**body, "is_available": False},
        ) as response:
            assert response.status == 200
    elif prepare == "no_notify_url":
        await notifying.control.set_notify_url(None)
    else:
        await notifying.control.send_lifecycle(101, "freeze")

    answer = await notifying.control.create_record(101, PHONE, visit_at=VISIT)

    assert answer["notification"]["outcome"] == "skipped"
    assert reason in answer["notification"]["skipped_reason"]
    assert answer["notification"]["attempts"] == []
    assert operator.requests == []


async def test_a_salon_without_the_install_is_not_notified(notifying, operator):
    answer = await notifying.control.create_record(102, PHONE, visit_at=VISIT)

    assert answer["notification"]["outcome"] == "skipped"
    assert answer["webhooks"] == []
    assert operator.requests == []


async def test_the_control_api_refuses_bad_records(notifying):
    with pytest.raises(SandboxControlError) as unknown:
        await notifying.control.create_record(999, PHONE)
    with pytest.raises(SandboxControlError) as bad_phone:
        await notifying.control.create_record(101, "12")
    with pytest.raises(SandboxControlError) as bad_time:
        await notifying.control.create_record(101, PHONE, visit_at="завтра")

    assert unknown.value.status == 404
    assert bad_phone.value.status == 400
    assert bad_time.value.status == 400


async def test_5xx_and_429_are_retried_then_delivered(notifying, operator):
    operator.answers = [(500, {"error": "down"}), (429, {"error": "slow down"})]

    answer = await notifying.control.create_record(101, PHONE, visit_at=VISIT)

    notification = answer["notification"]
    assert outcomes(notification) == ["retry", "retry", "delivered"]
    assert [a["status"] for a in notification["attempts"]] == [500, 429, 200]
    assert notification["attempts"][0]["answer"] == {"error": "down"}
    assert len(operator.requests) == 3
    bodies = [body for _, body in operator.requests]
    assert bodies[0] == bodies[1] == bodies[2]  # the same send, the same id


async def test_an_operator_failing_three_times_drops_the_notification(notifying, operator):
    operator.answers = [(503, None)] * 3

    answer = await notifying.control.create_record(101, PHONE, visit_at=VISIT)

    assert outcomes(answer["notification"]) == ["retry", "retry", "dropped"]
    assert answer["notification"]["outcome"] == "dropped"
    assert answer["notification"]["destinations"][0]["ext_id"] is None
    [listed] = await notifying.control.notifications()
    assert listed["outcome"] == "dropped"
    assert len(listed["attempts"]) == 3


async def test_a_request_level_error_is_recorded_and_not_retried(notifying, operator):
    refusal = {"error_code": 20, "error_message": "Неверный ключ"}
    operator.answers = [(401, refusal)]

    answer = await notifying.control.create_record(101, PHONE, visit_at=VISIT)

    assert outcomes(answer["notification"]) == ["rejected"]
    assert answer["notification"]["attempts"][0]["status"] == 401
    assert answer["notification"]["attempts"][0]["answer"] == refusal


async def test_a_per_destination_error_is_read_from_the_answer(notifying, operator):
    def no_funds(body):
        send_id = body["destination_params"]["id"]
        return 200, [{"id": send_id, "error_code": 32, "error_message": "Недостаточно средств"}]

    operator.answers = [no_funds]

    answer = await notifying.control.create_record(101, PHONE, visit_at=VISIT)

    [destination] = answer["notification"]["destinations"]
    assert answer["notification"]["outcome"] == "delivered"  # the request itself was taken
    assert destination["ext_id"] is None
    assert destination["error_code"] == 32
    assert destination["error_message"] == "Недостаточно средств"


async def test_a_network_error_is_retried_then_dropped(http, body_for):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    async with run_sandbox(
        notify_url=f"http://127.0.0.1:{closed_port}/notify",
        webhook_retry_delay_seconds=0.01,
        rate_per_second=0,
        rate_per_minute=0,
    ) as sandbox:
        await sandbox.control.consent([101])
        headers = {"Authorization": f"Bearer {sandbox.config.partner_token}"}
        async with http.post(
            f"{sandbox.url}/marketplace/partner/callback",
            json={**body_for(101), "webhook_urls": []},
            headers=headers,
        ) as response:
            assert response.status == 201

        answer = await sandbox.control.create_record(101, PHONE, visit_at=VISIT)

    assert outcomes(answer["notification"]) == ["retry", "retry", "dropped"]
    attempts = answer["notification"]["attempts"]
    assert all(a["status"] is None and a["error"] and a["answer"] is None for a in attempts)


async def test_a_mailing_is_an_adds_send_to_each_phone(notifying, operator):
    sent = await notifying.control.send_mailing(
        101, text="Скидка 20% в ноябре", phones=["79990001111", "79990002222"]
    )

    assert [n["event"] for n in sent] == ["mailing", "mailing"]
    bodies = [body for _, body in operator.requests]
    assert [b["destination_params"]["phone"] for b in bodies] == ["79990001111", "79990002222"]
    assert all(b["dispatch_type"] == "adds" and b["text"] == "Скидка 20% в ноябре" for b in bodies)
    assert all(n["outcome"] == "delivered" for n in sent)


async def test_a_mailing_can_carry_a_list_of_destinations(notifying, operator):
    [sent] = await notifying.control.send_mailing(
        101, phones=["79990001111", "79990002222"], as_list=True
    )

    [(_, body)] = operator.requests
    assert [d["phone"] for d in body["destination_params"]] == ["79990001111", "79990002222"]
    assert "Салон на Тверской" in body["text"]
    assert [d["ext_id"] for d in sent["destinations"]] == [
        f"wamid.{d['id']}" for d in body["destination_params"]
    ]


async def test_a_mailing_without_phones_goes_to_the_salons_clients(notifying, operator):
    await notifying.control.create_record(101, "79990003333", visit_at=VISIT)

    await notifying.control.send_mailing(101)

    assert operator.requests[-1][1]["destination_params"]["phone"] == "79990003333"


def moscow_iso(moment: datetime) -> str:
    return moment.astimezone(MOSCOW).replace(microsecond=0).isoformat()


async def test_the_reminder_goes_the_set_time_before_the_visit(operator, body_for, http):
    async with run_sandbox(
        notify_url=operator.url, reminder_before_seconds=600, rate_per_second=0
    ) as sandbox:
        await sandbox.control.consent([101])
        headers = {"Authorization": f"Bearer {sandbox.config.partner_token}"}
        body = {**body_for(101), "webhook_urls": []}
        async with http.post(
            f"{sandbox.url}/marketplace/partner/callback", json=body, headers=headers
        ) as response:
            assert response.status == 201
        visit = datetime.now(MOSCOW) + timedelta(hours=3)
        created = await sandbox.control.create_record(101, PHONE, visit_at=moscow_iso(visit))
        record_id = created["record"]["id"]

        [scheduled] = (await sandbox.control.schedule())["reminders"]
        assert scheduled["record_id"] == record_id
        expected = visit.replace(microsecond=0) - timedelta(seconds=600)
        assert datetime.fromisoformat(scheduled["at"]) == expected

        await sandbox.control.advance_clock(3 * 3600 - 600 + 1)
        sent = await sandbox.control.wait_for_notifications(
            lambda notes: any(n["event"] == "reminder" and n["outcome"] != "pending" for n in notes)
        )

    reminder = next(n for n in sent if n["event"] == "reminder")
    assert reminder["record_id"] == record_id
    assert reminder["body"]["dispatch_type"] == "service"
    assert "напоминаем" in reminder["body"]["text"]
    assert reminder["outcome"] == "delivered"
    assert [body["destination_params"]["phone"] for _, body in operator.requests] == [PHONE] * 2


async def test_the_reminder_goes_at_the_compressed_time_without_moving_the_clock(
    operator, body_for, http
):
    async with run_sandbox(
        notify_url=operator.url, reminder_before_seconds=3600 - 1.5, rate_per_second=0
    ) as sandbox:
        await sandbox.control.consent([101])
        headers = {"Authorization": f"Bearer {sandbox.config.partner_token}"}
        body = {**body_for(101), "webhook_urls": []}
        async with http.post(
            f"{sandbox.url}/marketplace/partner/callback", json=body, headers=headers
        ) as response:
            assert response.status == 201
        visit = datetime.now(MOSCOW) + timedelta(hours=1)
        await sandbox.control.create_record(101, PHONE, visit_at=moscow_iso(visit))
        assert len(operator.requests) == 1

        await operator.wait_for(2, timeout=6)

    assert "напоминаем" in operator.requests[1][1]["text"]


async def test_a_visit_too_close_gets_no_reminder_and_a_move_schedules_one(notifying):
    soon = moscow_iso(datetime.now(MOSCOW) + timedelta(minutes=30))
    created = await notifying.control.create_record(101, PHONE, visit_at=soon)
    assert created["record"]["reminder"] == "not_needed"
    assert (await notifying.control.schedule())["reminders"] == []

    later = moscow_iso(datetime.now(MOSCOW) + timedelta(days=2))
    changed = await notifying.control.change_record(created["record"]["id"], visit_at=later)

    assert changed["record"]["reminder"] == "scheduled"
    [scheduled] = (await notifying.control.schedule())["reminders"]
    assert scheduled["record_id"] == created["record"]["id"]


async def test_reset_forgets_records_notifications_statuses_and_tariffs(notifying, http):
    created = await notifying.control.create_record(101, PHONE, visit_at=VISIT)
    body = created["notification"]["body"]
    report = {"id": body["destination_params"]["id"], "status": 4}
    async with http.post(body["delivery_callback_url"], json=[report]) as response:
        assert response.status == 200
    await notifying.control.set_tariffs([{"title": "Месяц", "price": 1990}])

    await notifying.control.reset()

    assert await notifying.control.records() == []
    assert await notifying.control.notifications() == []
    assert await notifying.control.statuses() == {}
    assert await notifying.control.tariffs() == []
    assert (await notifying.control.schedule())["reminders"] == []
    # The operator URL is the configured one again (none here): a new salon is not notified.
    await notifying.control.consent([101])
    answer = await notifying.control.create_record(101, PHONE, visit_at=VISIT)
    assert answer["notification"]["outcome"] == "skipped"
