"""Records (bookings) and the notifications YClients' notification module sends about them.

Only data and texts: no I/O. `notify.py` sends, `smsprovider.py` takes the statuses back.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypedDict

from yclients_sandbox.clock import MOSCOW
from yclients_sandbox.webhooks import Delivery

# Delivery statuses our channel reports back, as YClients numbers and the sandbox's page names them.
STATUS_LABELS: dict[int, str] = {
    1: "Доставлено",
    2: "Не доставлено",
    4: "Отправлено на телефон",
    8: "Передано оператору",
    16: "Отклонено",
    52: "Недостаточно средств",
}
# Statuses after which the channel owes amount, currency and parts (Altegio's checklist).
PRICED_STATUSES = (1, 8)

Event = Literal["record_create", "record_update", "reminder", "mailing"]
DispatchType = Literal["service", "adds"]
Outcome = Literal["skipped", "pending", "delivered", "retry", "dropped", "rejected"]


class StatusReport(TypedDict):
    status: int
    label: str
    payment_sum: float | None
    currency_iso: str | None
    parts_amount: int | None
    time: str


def moscow(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, MOSCOW)


def parse_visit_at(value: str) -> float:
    """An ISO date and time; without an offset it is Moscow time, as a salon's schedule is."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=MOSCOW)
    return moment.timestamp()


def default_visit_at(now: float) -> float:
    """Tomorrow at 14:00, Moscow time."""
    tomorrow = moscow(now) + timedelta(days=1)
    return tomorrow.replace(hour=14, minute=0, second=0, microsecond=0).timestamp()


def when(timestamp: float) -> str:
    moment = moscow(timestamp)
    return f"{moment:%d.%m.%Y} в {moment:%H:%M}"


@dataclass
class Record:
    id: int
    salon_id: int
    client_phone: str
    client_name: str
    service: str
    visit_at: float
    created_at: float
    changed_at: float
    # "scheduled" until the reminder goes; "not_needed" when the visit is too close for one.
    reminder: Literal["scheduled", "sent", "not_needed"] = "scheduled"

    def schedule_reminder(self, before_seconds: float, now: float) -> None:
        due = self.reminder_due(before_seconds)
        self.reminder = "scheduled" if due > now else "not_needed"

    def reminder_due(self, before_seconds: float) -> float:
        return self.visit_at - before_seconds

    def view(self, reminder_before_seconds: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "salon_id": self.salon_id,
            "client_phone": self.client_phone,
            "client_name": self.client_name,
            "service": self.service,
            "visit_at": moscow(self.visit_at).isoformat(),
            "reminder_at": moscow(self.reminder_due(reminder_before_seconds)).isoformat(),
            "reminder": self.reminder,
        }


def record_text(event: Event, salon_name: str, record: Record) -> str:
    """The Russian text of a transactional notification: salon, service, date and time."""
    at = when(record.visit_at)
    if event == "record_create":
        return (
            f"{record.client_name}, вы записаны в «{salon_name}» на услугу «{record.service}» "
            f"{at}. Ждём вас!"
        )
    if event == "record_update":
        return (
            f"{record.client_name}, ваша запись в «{salon_name}» изменена: «{record.service}» {at}."
        )
    return (
        f"{record.client_name}, напоминаем о записи в «{salon_name}»: «{record.service}» {at}. "
        "Если планы изменились, напишите нам."
    )


def mailing_text(salon_name: str) -> str:
    return (
        f"«{salon_name}»: скидка 15% на все услуги до конца недели. "
        "Ответьте на это сообщение, чтобы записаться."
    )


@dataclass
class Destination:
    """One addressee of a send: YClients' id of it, the phone and what our channel answered."""

    id: str
    phone: str
    ext_id: str | None = None
    error_code: int | None = None
    error_message: str | None = None

    def view(self, statuses: list[StatusReport]) -> dict[str, Any]:
        return {
            "id": self.id,
            "phone": self.phone,
            "ext_id": self.ext_id,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "statuses": list(statuses),
            "status": statuses[-1]["status"] if statuses else None,
            "status_label": statuses[-1]["label"] if statuses else None,
        }


@dataclass
class Notification:
    number: int
    salon_id: int
    record_id: int | None
    event: Event
    dispatch_type: DispatchType
    sender_name: str
    text: str
    destinations: list[Destination]
    created_at: float
    body: dict[str, Any] | None = None
    skipped_reason: str | None = None
    delivery: Delivery | None = None

    @property
    def outcome(self) -> Outcome:
        if self.skipped_reason is not None:
            return "skipped"
        return self.delivery.outcome if self.delivery is not None else "pending"

    def read_answer(self, answer: Any) -> None:
        """Our channel's 200 answer: one entry per destination, `ext_id` or an error."""
        entries = {
            str(entry.get("id")): entry
            for entry in (answer if isinstance(answer, list) else [])
            if isinstance(entry, dict)
        }
        for destination in self.destinations:
            entry = entries.get(destination.id)
            if entry is None:
                destination.error_message = "В ответе оператора нет записи с этим id."
                continue
            if entry.get("ext_id") not in (None, ""):
                destination.ext_id = str(entry["ext_id"])
            else:
                code = entry.get("error_code")
                destination.error_code = code if isinstance(code, int) else None
                destination.error_message = str(entry.get("error_message") or "")

    def view(self, statuses: dict[str, list[StatusReport]]) -> dict[str, Any]:
        delivery = self.delivery.view() if self.delivery is not None else None
        return {
            "number": self.number,
            "salon_id": self.salon_id,
            "record_id": self.record_id,
            "event": self.event,
            "dispatch_type": self.dispatch_type,
            "from": self.sender_name,
            "text": self.text,
            "created_at": datetime.fromtimestamp(self.created_at, UTC).isoformat(),
            "destinations": [d.view(statuses.get(d.id, [])) for d in self.destinations],
            "url": delivery["url"] if delivery else None,
            "headers": delivery["headers"] if delivery else None,
            "body": self.body,
            "attempts": delivery["attempts"] if delivery else [],
            "outcome": self.outcome,
            "skipped_reason": self.skipped_reason,
        }


@dataclass
class RecordBook:
    """Records, the notifications sent about them and the statuses our channel reported."""

    records: dict[int, Record] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    # Per send id (a destination's id), every status received, in order of arrival.
    statuses: dict[str, list[StatusReport]] = field(default_factory=dict)
    _record_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(300_000_001))
    _send_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(7_300_000_001))

    def add_record(
        self,
        salon_id: int,
        client_phone: str,
        client_name: str,
        service: str,
        visit_at: float,
        now: float,
    ) -> Record:
        record = Record(
            next(self._record_ids), salon_id, client_phone, client_name, service, visit_at, now, now
        )
        self.records[record.id] = record
        return record

    def add_notification(
        self,
        salon_id: int,
        record_id: int | None,
        event: Event,
        sender_name: str,
        text: str,
        phones: list[str],
        now: float,
    ) -> Notification:
        notification = Notification(
            number=len(self.notifications) + 1,
            salon_id=salon_id,
            record_id=record_id,
            event=event,
            dispatch_type="adds" if event == "mailing" else "service",
            sender_name=sender_name,
            text=text,
            destinations=[Destination(str(next(self._send_ids)), phone) for phone in phones],
            created_at=now,
        )
        self.notifications.append(notification)
        return notification

    def sent_ids(self) -> set[str]:
        return {
            destination.id
            for notification in self.notifications
            if notification.skipped_reason is None
            for destination in notification.destinations
        }

    def reminders_due(self, before_seconds: float, now: float) -> list[Record]:
        return [
            record
            for record in self.records.values()
            if record.reminder == "scheduled" and record.reminder_due(before_seconds) <= now
        ]

    def next_reminder(self, before_seconds: float) -> float | None:
        return min(
            (
                record.reminder_due(before_seconds)
                for record in self.records.values()
                if record.reminder == "scheduled"
            ),
            default=None,
        )

    def notifications_view(self, salon_id: int | None = None) -> list[dict[str, Any]]:
        return [
            notification.view(self.statuses)
            for notification in self.notifications
            if salon_id is None or notification.salon_id == salon_id
        ]
