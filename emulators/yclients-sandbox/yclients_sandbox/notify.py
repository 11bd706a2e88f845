"""YClients' notification module with our app as a salon's `whatsapp` channel.

A record (booking) created or changed, a reminder come due, a mailing: each becomes a POST to the
operator URL with the salon's api_key, retried like a webhook; our answer is read per destination.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from yclients_sandbox.keys import CONFIG, SENDER, STATE
from yclients_sandbox.payloads import entity_body, record_data
from yclients_sandbox.records import (
    Event,
    Notification,
    Record,
    default_visit_at,
    mailing_text,
    record_text,
)
from yclients_sandbox.state import Salon, SandboxState, Status
from yclients_sandbox.webhooks import Delivery

CHANNEL = "whatsapp"
ACCEPT = "application/vnd.yclients.v2+json"


class Refused(Exception):
    """A control request that cannot be done: its HTTP status and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def phone_digits(value: str) -> str:
    """A phone as YClients sends it: digits only, no `+`."""
    digits = re.sub(r"\D", "", value)
    if not 10 <= len(digits) <= 15:
        raise Refused(400, f"{value!r} is not a phone number (10 to 15 digits)")
    return digits


def why_not_sent(state: SandboxState, salon: Salon) -> str | None:
    """Why the notification module would not hand this salon's notification to our channel."""
    if not state.notify_url:
        return "Адрес оператора не задан (--notify-url)."
    if salon.status != Status.ACTIVE:
        return f"Приложение в филиале не активно ({salon.status.value})."
    if CHANNEL not in salon.channels:
        return "Канал whatsapp не подключён при установке."
    if not salon.channels[CHANNEL]:
        return "Канал whatsapp выключен (update_channel)."
    if not salon.api_key:
        return "При установке не передан api_key."
    return None


def notification_body(
    state: SandboxState, notification: Notification, as_list: bool
) -> dict[str, Any]:
    """Every field of YClients' request to an operator, `destination_params` as an object."""
    destinations = [{"id": d.id, "phone": d.phone} for d in notification.destinations]
    return {
        "destination_params": destinations if as_list else destinations[0],
        "from": notification.sender_name,
        "text": notification.text,
        "channel": CHANNEL,
        "dispatch_type": notification.dispatch_type,
        "delivery_callback_url": state.status_callback_url(),
    }


def prepare_notification(
    app: web.Application,
    salon: Salon,
    record: Record | None,
    event: Event,
    text: str,
    phones: list[str],
    as_list: bool = False,
) -> Notification:
    """Register the notification (and its delivery, pending) or the reason it is not sent."""
    state = app[STATE]
    notification = state.book.add_notification(
        salon.id, record.id if record else None, event, salon.name, text, phones, state.clock.now()
    )
    reason = why_not_sent(state, salon)
    if reason is not None:
        notification.skipped_reason = reason
        return notification
    assert state.notify_url is not None  # why_not_sent checked it
    notification.body = notification_body(state, notification, as_list)
    headers = {
        "Authorization": f"Bearer {salon.api_key}",
        "Accept": ACCEPT,
        "Content-Type": "application/json",
    }
    notification.delivery = app[SENDER].start(
        "notification", salon.id, state.notify_url, notification.body, headers
    )
    return notification


async def send_notification(app: web.Application, notification: Notification) -> Notification:
    if notification.delivery is None:
        return notification
    delivery = await app[SENDER].run(notification.delivery)
    if delivery.outcome == "delivered":
        notification.read_answer(delivery.attempts[-1]["answer"])
    return notification


@dataclass
class RecordChange:
    """A record just created or changed: what is to be sent about it."""

    salon: Salon
    record: Record
    status: str  # "create" | "update", as the entity webhook says
    notification: Notification


def salon_of(state: SandboxState, salon_id: int) -> Salon:
    salon = state.salons.get(salon_id)
    if salon is None:
        raise Refused(404, f"salon {salon_id} is unknown")
    return salon


def create_record(
    app: web.Application,
    salon_id: int,
    client_phone: str,
    client_name: str | None = None,
    service: str | None = None,
    visit_at: float | None = None,
) -> RecordChange:
    state, config = app[STATE], app[CONFIG]
    salon = salon_of(state, salon_id)
    now = state.clock.now()
    record = state.book.add_record(
        salon.id,
        phone_digits(client_phone),
        client_name or config.client_name,
        service or config.service,
        visit_at if visit_at is not None else default_visit_at(now),
        now,
    )
    record.schedule_reminder(config.reminder_before_seconds, now)
    state.changed()
    text = record_text("record_create", salon.name, record)
    notification = prepare_notification(
        app, salon, record, "record_create", text, [record.client_phone]
    )
    return RecordChange(salon, record, "create", notification)


def change_record(
    app: web.Application,
    record_id: int,
    visit_at: float | None = None,
    service: str | None = None,
    client_name: str | None = None,
) -> RecordChange:
    state, config = app[STATE], app[CONFIG]
    record = state.book.records.get(record_id)
    if record is None:
        raise Refused(404, f"record {record_id} is unknown")
    salon = salon_of(state, record.salon_id)
    now = state.clock.now()
    if visit_at is not None:
        record.visit_at = visit_at
        record.schedule_reminder(config.reminder_before_seconds, now)
    record.service = service or record.service
    record.client_name = client_name or record.client_name
    record.changed_at = now
    state.changed()
    text = record_text("record_update", salon.name, record)
    notification = prepare_notification(
        app, salon, record, "record_update", text, [record.client_phone]
    )
    return RecordChange(salon, record, "update", notification)


async def deliver_change(app: web.Application, change: RecordChange) -> list[Delivery]:
    """Send the notification and, to each webhook URL of the salon, the record's entity webhook."""
    state, sender = app[STATE], app[SENDER]
    record = change.record
    now = state.clock.now()
    data = record_data(
        change.salon.id,
        record.id,
        change.status,
        now,
        start_at=record.visit_at,
        service=record.service,
        client_name=record.client_name,
        client_phone=record.client_phone,
    )
    body = entity_body(change.salon.id, "record", record.id, change.status, now, data)
    webhooks = [
        sender.deliver("entity", change.salon.id, url, body) for url in change.salon.webhook_urls
    ]
    _, delivered = await asyncio.gather(
        send_notification(app, change.notification), asyncio.gather(*webhooks)
    )
    return delivered


async def send_reminder(app: web.Application, record: Record) -> Notification:
    state = app[STATE]
    salon = salon_of(state, record.salon_id)
    text = record_text("reminder", salon.name, record)
    notification = prepare_notification(app, salon, record, "reminder", text, [record.client_phone])
    return await send_notification(app, notification)


def prepare_mailing(
    app: web.Application,
    salon_id: int,
    text: str | None = None,
    phones: list[str] | None = None,
    as_list: bool = False,
) -> list[Notification]:
    """An advertising send (`adds`): one request per phone, or one with a list of destinations.

    Without phones: the salon's clients with records, else the demo client.
    """
    state, config = app[STATE], app[CONFIG]
    salon = salon_of(state, salon_id)
    if phones is None:
        known = [r.client_phone for r in state.book.records.values() if r.salon_id == salon.id]
        phones = list(dict.fromkeys(known)) or [config.client_phone]
    digits = [phone_digits(phone) for phone in phones]
    if not digits:
        raise Refused(400, "phones must not be empty")
    text = text or mailing_text(salon.name)
    if as_list:
        return [prepare_notification(app, salon, None, "mailing", text, digits, as_list=True)]
    return [prepare_notification(app, salon, None, "mailing", text, [phone]) for phone in digits]
