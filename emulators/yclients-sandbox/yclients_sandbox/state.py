"""What the sandbox remembers: clock, salons and their installation, payments, calls, faults."""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypedDict

from yclients_sandbox.config import SandboxConfig

ALREADY_INSTALLED = "Пользователь уже установил это приложение."
WINDOW_EXPIRED = (
    "Истекло время на подключение приложения: с момента согласия администратора прошло больше "
    "{hours:g} ч. Подключите приложение заново из маркетплейса YClients."
)
NO_CONSENT = "Администратор филиала не запрашивал подключение приложения."
UNKNOWN_SALON = "Филиал не найден."
NOT_INSTALLED = "Приложение не установлено в этом филиале."


class Clock:
    """Wall time that tests can shift forward, e.g. past the activation window."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> float:
        return time.time() + self.offset_seconds

    def advance(self, seconds: float) -> None:
        self.offset_seconds += seconds


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


class Status(StrEnum):
    NOT_INSTALLED = "not_installed"
    PENDING = "pending"
    ACTIVE = "active"
    FREEZED = "freezed"
    UNINSTALLED = "uninstalled"


INSTALLED = (Status.ACTIVE, Status.FREEZED)


class PartnerError(Exception):
    """A refusal of the partner API: its status, message and per-field errors."""

    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


@dataclass
class Salon:
    id: int
    name: str
    status: Status = Status.NOT_INSTALLED
    consent_at: float | None = None
    api_key: str | None = None
    webhook_urls: list[str] = field(default_factory=list)
    channels: dict[str, bool] = field(default_factory=dict)
    logs: list[dict[str, str]] = field(default_factory=list)

    def log(self, now: float, event: str, message: str) -> None:
        self.logs.append({"date": iso(now), "event": event, "message": message})

    def view(self) -> dict[str, Any]:
        return {
            "salon_id": self.id,
            "name": self.name,
            "status": self.status.value,
            "consent_at": iso(self.consent_at) if self.consent_at is not None else None,
            "api_key": self.api_key,
            "webhook_urls": list(self.webhook_urls),
            "channels": dict(self.channels),
            "logs": list(self.logs),
        }


@dataclass
class Payment:
    id: int
    salon_id: int
    payment_sum: float
    currency_iso: str
    payment_date: str
    period_from: str
    period_to: str
    refunded: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "salon_id": self.salon_id,
            "payment_sum": self.payment_sum,
            "currency_iso": self.currency_iso,
            "payment_date": self.payment_date,
            "period_from": self.period_from,
            "period_to": self.period_to,
            "refunded": self.refunded,
        }


class CallRecord(TypedDict):
    time: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int


@dataclass(frozen=True)
class Fault:
    """A programmed answer; with `apply` the request is handled first, only its answer replaced."""

    status: int
    message: str | None = None
    errors: dict[str, list[str]] | None = None
    html: bool = False
    delay_seconds: float = 0.0
    apply: bool = False


class SandboxState:
    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.salons: dict[int, Salon] = {}
        self.payments: dict[int, Payment] = {}
        self.calls: list[CallRecord] = []
        self.faults: dict[str, deque[Fault]] = {}
        self._resource_ids = itertools.count(500_000_001)
        self.reset()

    def reset(self) -> None:
        self.clock.offset_seconds = 0.0
        # The developer cabinet's Callback URL: where lifecycle events go; can be changed.
        self.callback_url = self.config.callback_url
        self.salons = {salon.id: Salon(salon.id, salon.name) for salon in self.config.salons}
        self.payments = {}
        self.calls = []
        self.faults = {}
        self._resource_ids = itertools.count(500_000_001)

    def next_resource_id(self) -> int:
        return next(self._resource_ids)

    # -- faults --------------------------------------------------------------------------------

    def program_faults(self, path: str, faults: list[Fault]) -> None:
        self.faults.setdefault(path, deque()).extend(faults)

    def next_fault(self, path: str) -> Fault | None:
        queue = self.faults.get(path)
        return queue.popleft() if queue else None

    # -- installation --------------------------------------------------------------------------

    def salon(self, salon_id: int) -> Salon:
        try:
            return self.salons[salon_id]
        except KeyError:
            raise PartnerError(422, UNKNOWN_SALON, {"salon_id": [UNKNOWN_SALON]}) from None

    def put_salon(self, salon_id: int, name: str | None, status: Status | None) -> Salon:
        """Add a salon, or set its name or installation state (tests and the demo)."""
        salon = self.salons.setdefault(salon_id, Salon(salon_id, name or f"Салон {salon_id}"))
        if name:
            salon.name = name
        if status is not None:
            salon.status = status
            if status in INSTALLED:
                salon.channels.setdefault("whatsapp", True)
        return salon

    def installed_salon(self, salon_id: int) -> Salon:
        salon = self.salons.get(salon_id)
        if salon is None or salon.status not in INSTALLED:
            raise PartnerError(404, NOT_INSTALLED)
        return salon

    def consent(self, salon_ids: list[int]) -> list[Salon]:
        """The admin clicked "Подключить": the activation window of each salon starts now."""
        salons = [self.salon(salon_id) for salon_id in salon_ids]
        now = self.clock.now()
        for salon in salons:
            salon.consent_at = now
            if salon.status not in INSTALLED:
                salon.status = Status.PENDING
            salon.log(now, "consent", "Администратор нажал «Подключить»")
        return salons

    def install(
        self, salon_id: int, api_key: str | None, webhook_urls: list[str], channels: list[str]
    ) -> Salon:
        salon = self.salon(salon_id)
        if salon.status in INSTALLED:
            raise PartnerError(422, ALREADY_INSTALLED, {"salon_id": [ALREADY_INSTALLED]})
        if salon.status != Status.PENDING or salon.consent_at is None:
            raise PartnerError(422, NO_CONSENT, {"salon_id": [NO_CONSENT]})
        now = self.clock.now()
        window = self.config.activation_window_seconds
        if now - salon.consent_at > window:
            message = WINDOW_EXPIRED.format(hours=window / 3600)
            raise PartnerError(422, message, {"salon_id": [message]})
        salon.status = Status.ACTIVE
        salon.api_key = api_key
        salon.webhook_urls = list(webhook_urls)
        salon.channels = dict.fromkeys(channels, True)
        salon.log(now, "install", "Приложение подключено")
        return salon

    def uninstall(self, salon_id: int) -> Salon:
        salon = self.installed_salon(salon_id)
        self.mark_uninstalled(salon)
        return salon

    def mark_uninstalled(self, salon: Salon) -> None:
        salon.status = Status.UNINSTALLED
        salon.consent_at = None
        salon.api_key = None
        salon.webhook_urls = []
        salon.channels = {}
        salon.log(self.clock.now(), "uninstall", "Приложение отключено")

    def freeze(self, salon_id: int) -> Salon:
        salon = self.installed_salon(salon_id)
        salon.status = Status.FREEZED
        salon.log(self.clock.now(), "freeze", "Приложение заморожено: закончилась оплата")
        return salon

    def update_channel(self, salon_id: int, slug: str, is_available: bool) -> Salon:
        salon = self.installed_salon(salon_id)
        if slug not in salon.channels:
            message = f"Канал «{slug}» не подключён для этого приложения."
            raise PartnerError(422, message, {"channel_slug": [message]})
        salon.channels[slug] = is_available
        state = "включён" if is_available else "выключен"
        salon.log(self.clock.now(), "update_channel", f"Канал «{slug}» {state}")
        return salon

    # -- payments ------------------------------------------------------------------------------

    def pay(
        self,
        salon_id: int,
        payment_sum: float,
        currency_iso: str,
        payment_date: str,
        period_from: str,
        period_to: str,
    ) -> Payment:
        salon = self.salon(salon_id)
        if salon.status not in INSTALLED:
            raise PartnerError(422, NOT_INSTALLED, {"salon_id": [NOT_INSTALLED]})
        payment = Payment(
            id=len(self.payments) + 1,
            salon_id=salon_id,
            payment_sum=payment_sum,
            currency_iso=currency_iso,
            payment_date=payment_date,
            period_from=period_from,
            period_to=period_to,
        )
        self.payments[payment.id] = payment
        salon.status = Status.ACTIVE
        salon.log(self.clock.now(), "payment", f"Оплата {payment_sum:g} {currency_iso}")
        return payment

    def refund(self, payment_id: int) -> Payment:
        payment = self.payments.get(payment_id)
        if payment is None:
            raise PartnerError(404, "Платёж не найден.")
        if payment.refunded:
            raise PartnerError(422, "Платёж уже возвращён.")
        payment.refunded = True
        return payment
