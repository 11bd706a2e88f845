"""What the sandbox remembers: clock, salons and their installation, billing, calls, faults."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypedDict
from urllib.parse import urlencode

from yclients_sandbox.clock import Clock, iso, yclients_time
from yclients_sandbox.config import SandboxConfig, TariffConfig
from yclients_sandbox.records import RecordBook

ALREADY_INSTALLED = "Пользователь уже установил это приложение."
WINDOW_EXPIRED = (
    "Истекло время на подключение приложения: с момента согласия администратора прошло больше "
    "{hours:g} ч. Подключите приложение заново из маркетплейса YClients."
)
NO_CONSENT = "Администратор филиала не запрашивал подключение приложения."
UNKNOWN_SALON = "Филиал не найден."
NOT_INSTALLED = "Приложение не установлено в этом филиале."
NO_TARIFFS = "Произошла ошибка"
UNKNOWN_PAYMENT = "Платёж не найден."
ALREADY_REFUNDED = "Платёж уже возвращён."

# Where a change of an installation came from, as `logs[].source` names it.
SOURCE_MARKETPLACE = "marketplace"  # the admin in YClients (the page, the payment page)
SOURCE_PARTNER_API = "partner_api"  # our calls
SOURCE_BILLING = "billing"  # YClients' billing: trial ended, refund
SOURCE_SANDBOX = "sandbox"  # the control API


class Status(StrEnum):
    NOT_INSTALLED = "not_installed"
    PENDING = "pending"
    ACTIVE = "active"
    FREEZED = "freezed"
    UNINSTALLED = "uninstalled"


INSTALLED = (Status.ACTIVE, Status.FREEZED)
# The states the application status endpoint answers (YClients' documented enum); others 404.
KNOWN_TO_STATUS = (Status.PENDING, Status.ACTIVE, Status.FREEZED)


class PartnerError(Exception):
    """A refusal of the partner API: its status, message, per-field errors and error code."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: dict[str, list[str]] | None = None,
        code: int | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.code = code


class Discount(TypedDict):
    discount: float
    date: str


class PaymentLink(TypedDict):
    url: str
    date: str
    discount: float | None
    tariff_option_id: int | None


@dataclass
class Salon:
    id: int
    name: str
    status: Status = Status.NOT_INSTALLED
    consent_at: float | None = None
    # When the link between salon and application was created (the first consent).
    created_at: float | None = None
    api_key: str | None = None
    webhook_urls: list[str] = field(default_factory=list)
    channels: dict[str, bool] = field(default_factory=dict)
    logs: list[dict[str, str]] = field(default_factory=list)
    trial_ends_at: float | None = None
    discounts: list[Discount] = field(default_factory=list)
    payment_links: list[PaymentLink] = field(default_factory=list)

    def change(self, now: float, status: Status, event: str, message: str, source: str) -> None:
        """Set the state and log it as YClients does: from, to, when, by whom."""
        before = self.status
        self.status = status
        self.logs.append(
            {
                "changed_at": yclients_time(now),
                "status_from": before.value,
                "status_to": status.value,
                "source": source,
                "event": event,
                "message": message,
            }
        )

    def note(self, now: float, event: str, message: str, source: str) -> None:
        """Log an event that leaves the state as it is."""
        self.change(now, self.status, event, message, source)

    @property
    def discount(self) -> float | None:
        return self.discounts[-1]["discount"] if self.discounts else None

    def view(self) -> dict[str, Any]:
        return {
            "salon_id": self.id,
            "name": self.name,
            "status": self.status.value,
            "consent_at": iso(self.consent_at) if self.consent_at is not None else None,
            "created_at": yclients_time(self.created_at) if self.created_at else None,
            "api_key": self.api_key,
            "webhook_urls": list(self.webhook_urls),
            "channels": dict(self.channels),
            "logs": list(self.logs),
            "trial_ends_at": iso(self.trial_ends_at) if self.trial_ends_at is not None else None,
            "discount": self.discount,
            "discounts": list(self.discounts),
            "payment_links": list(self.payment_links),
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
    created_at: float
    source: str = SOURCE_PARTNER_API
    refunded_at: float | None = None

    @property
    def is_refunded(self) -> bool:
        return self.refunded_at is not None

    def view(self) -> dict[str, Any]:
        """YClients' fields of a payment in the application status, with currency and source."""
        return {
            "id": self.id,
            "salon_id": self.salon_id,
            "payment_sum": self.payment_sum,
            "currency_iso": self.currency_iso,
            "payment_date": self.payment_date,
            "period_from": self.period_from,
            "period_to": self.period_to,
            "is_refunded": self.is_refunded,
            "refunded_at": yclients_time(self.refunded_at) if self.refunded_at else None,
            "source": self.source,
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


def tariff_option_id(index: int) -> int:
    """The option of the tariff at `index` (each tariff here has one option)."""
    return 1001 + index


class SandboxState:
    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        # Called after a change that may move a scheduled time (a record, an install).
        self.listeners: list[Callable[[], None]] = []
        self.salons: dict[int, Salon] = {}
        self.payments: dict[int, Payment] = {}
        self.calls: list[CallRecord] = []
        self.faults: dict[str, deque[Fault]] = {}
        self.tariffs: list[TariffConfig] = []
        self.book = RecordBook()
        self.public_url = config.public_url
        self.reset()

    def reset(self) -> None:
        self.clock.reset()
        # The developer cabinet's Callback URL: where lifecycle events go; can be changed.
        self.callback_url = self.config.callback_url
        # The operator URL of the notification module: where notifications go; can be changed.
        self.notify_url = self.config.notify_url
        self.salons = {salon.id: Salon(salon.id, salon.name) for salon in self.config.salons}
        self.payments = {}
        self.calls = []
        self.faults = {}
        self.tariffs = list(self.config.tariffs)
        self.book = RecordBook()
        self._resource_ids = itertools.count(500_000_001)
        self.changed()

    def changed(self) -> None:
        for listener in self.listeners:
            listener()

    def next_resource_id(self) -> int:
        return next(self._resource_ids)

    def status_callback_url(self) -> str:
        """`delivery_callback_url` of our notifications: YClients' documented form, here."""
        return f"{self.public_url or ''}/smsprovider/status/callback/{self.config.partner_token}"

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
        if status is not None and status != salon.status:
            now = self.clock.now()
            salon.change(now, status, "sandbox", "Состояние задано вручную", SOURCE_SANDBOX)
            if status in INSTALLED:
                salon.channels.setdefault("whatsapp", True)
                salon.created_at = salon.created_at or now
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
            message = "Администратор нажал «Подключить»"
            if salon.status in INSTALLED:
                salon.note(now, "consent", message, SOURCE_MARKETPLACE)
            else:
                if salon.status != Status.PENDING:
                    salon.created_at = now
                salon.change(now, Status.PENDING, "consent", message, SOURCE_MARKETPLACE)
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
        salon.api_key = api_key
        salon.webhook_urls = list(webhook_urls)
        salon.channels = dict.fromkeys(channels, True)
        trial = self.config.trial_seconds
        salon.trial_ends_at = now + trial if trial > 0 and not self.paid(salon.id) else None
        salon.change(now, Status.ACTIVE, "install", "Приложение подключено", SOURCE_PARTNER_API)
        self.changed()
        return salon

    def uninstall(self, salon_id: int) -> Salon:
        salon = self.installed_salon(salon_id)
        self.mark_uninstalled(salon, SOURCE_PARTNER_API)
        return salon

    def mark_uninstalled(self, salon: Salon, source: str = SOURCE_MARKETPLACE) -> None:
        salon.consent_at = None
        salon.api_key = None
        salon.webhook_urls = []
        salon.channels = {}
        salon.trial_ends_at = None
        now = self.clock.now()
        salon.change(now, Status.UNINSTALLED, "uninstall", "Приложение отключено", source)

    def freeze(
        self,
        salon_id: int,
        message: str = "Приложение заморожено: закончилась оплата",
        source: str = SOURCE_BILLING,
    ) -> Salon:
        salon = self.installed_salon(salon_id)
        salon.trial_ends_at = None
        salon.change(self.clock.now(), Status.FREEZED, "freeze", message, source)
        return salon

    def update_channel(self, salon_id: int, slug: str, is_available: bool) -> Salon:
        salon = self.installed_salon(salon_id)
        if slug not in salon.channels:
            message = f"Канал «{slug}» не подключён для этого приложения."
            raise PartnerError(422, message, {"channel_slug": [message]})
        salon.channels[slug] = is_available
        state = "включён" if is_available else "выключен"
        salon.note(
            self.clock.now(), "update_channel", f"Канал «{slug}» {state}", SOURCE_PARTNER_API
        )
        return salon

    # -- payments ------------------------------------------------------------------------------

    def paid(self, salon_id: int) -> bool:
        """Whether the salon has a payment that was not refunded."""
        return any(
            payment.salon_id == salon_id and not payment.is_refunded
            for payment in self.payments.values()
        )

    def payments_of(self, salon_id: int) -> list[Payment]:
        return [payment for payment in self.payments.values() if payment.salon_id == salon_id]

    def pay(
        self,
        salon_id: int,
        payment_sum: float,
        currency_iso: str,
        payment_date: str,
        period_from: str,
        period_to: str,
        source: str = SOURCE_PARTNER_API,
    ) -> Payment:
        """Book a payment: a frozen (billing or trial) installation becomes active again."""
        salon = self.salon(salon_id)
        if salon.status not in INSTALLED:
            raise PartnerError(422, NOT_INSTALLED, {"salon_id": [NOT_INSTALLED]})
        now = self.clock.now()
        payment = Payment(
            id=len(self.payments) + 1,
            salon_id=salon_id,
            payment_sum=payment_sum,
            currency_iso=currency_iso,
            payment_date=payment_date,
            period_from=period_from,
            period_to=period_to,
            created_at=now,
            source=source,
        )
        self.payments[payment.id] = payment
        salon.trial_ends_at = None
        message = f"Оплата {payment_sum:g} {currency_iso} (№ {payment.id})"
        salon.change(now, Status.ACTIVE, "payment", message, source)
        return payment

    def refund(self, payment_id: int) -> tuple[Payment, bool]:
        """Mark a payment refunded; a salon left without a paid subscription is frozen at once.

        Returns the payment and whether its salon was frozen by this refund.
        """
        payment = self.payments.get(payment_id)
        if payment is None:
            raise PartnerError(422, UNKNOWN_PAYMENT, {"payment_id": [UNKNOWN_PAYMENT]})
        if payment.is_refunded:
            raise PartnerError(422, ALREADY_REFUNDED, {"payment_id": [ALREADY_REFUNDED]})
        now = self.clock.now()
        payment.refunded_at = now
        salon = self.salons[payment.salon_id]
        message = f"Возврат оплаты № {payment.id}"
        if salon.status == Status.ACTIVE and not self.paid(salon.id):
            salon.trial_ends_at = None
            message += ": подписка отключена"
            salon.change(now, Status.FREEZED, "refund", message, SOURCE_BILLING)
            return payment, True
        salon.note(now, "refund", message, SOURCE_PARTNER_API)
        return payment, False

    def trials_due(self, now: float) -> list[Salon]:
        """Salons whose trial ended; those that paid meanwhile only lose the trial."""
        due = []
        for salon in self.salons.values():
            if salon.trial_ends_at is None or salon.trial_ends_at > now:
                continue
            salon.trial_ends_at = None
            if salon.status == Status.ACTIVE and not self.paid(salon.id):
                due.append(salon)
        return due

    def next_trial_end(self) -> float | None:
        ends = [s.trial_ends_at for s in self.salons.values() if s.trial_ends_at is not None]
        return min(ends, default=None)

    # -- tariffs, payment link, discounts --------------------------------------------------------

    def tariffs_view(self) -> list[dict[str, Any]]:
        """The tariffs endpoint's answer: each tariff with its one option."""
        return [
            {
                "id": index + 1,
                "title": tariff.title,
                "options": [
                    {
                        "id": tariff_option_id(index),
                        "title": tariff.title,
                        "overall_price": tariff.price,
                        "duration_in_months": tariff.months,
                        "currency_iso": tariff.currency_iso,
                        "staff_amount": 0,
                        "free_period_in_months": 0,
                    }
                ],
            }
            for index, tariff in enumerate(self.tariffs)
        ]

    def tariff_by_option(self, option_id: int) -> TariffConfig | None:
        for index, tariff in enumerate(self.tariffs):
            if tariff_option_id(index) == option_id:
                return tariff
        return None

    def sign_payment_link(self, params: dict[str, str]) -> str:
        """The link's `sign`: HMAC-SHA256 of its other parameters, keyed with the partner token."""
        text = "&".join(f"{key}={params[key]}" for key in sorted(params))
        key = self.config.partner_token.encode("utf-8")
        return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def payment_link(
        self, salon_id: int, discount: float | None, option_id: int | None
    ) -> PaymentLink:
        salon = self.salon(salon_id)
        if not self.tariffs:
            raise PartnerError(404, NO_TARIFFS)
        if salon.status not in INSTALLED:
            raise PartnerError(422, NOT_INSTALLED, {"salon_id": [NOT_INSTALLED]})
        if option_id is not None and self.tariff_by_option(option_id) is None:
            message = "Вариант тарифа не найден."
            raise PartnerError(422, message, {"tariff_option_id": [message]})
        if discount is None:
            discount = salon.discount
        params = {
            "salon_id": str(salon_id),
            "application_id": str(self.config.application_id),
            "source": "api",
        }
        if discount is not None:
            params["discount"] = f"{discount:g}"
        if option_id is not None:
            params["tariff_option_id"] = str(option_id)
        query = urlencode({**params, "sign": self.sign_payment_link(params)})
        link = PaymentLink(
            url=f"{self.public_url or ''}/appstore/payment/?{query}",
            date=yclients_time(self.clock.now()),
            discount=discount,
            tariff_option_id=option_id,
        )
        salon.payment_links.append(link)
        return link

    def add_discount(self, salon_ids: list[int], discount: float) -> list[Salon]:
        unknown = [salon_id for salon_id in salon_ids if salon_id not in self.salons]
        if unknown:
            message = f"Филиалы не найдены: {', '.join(map(str, unknown))}."
            raise PartnerError(422, message, {"salon_ids": [message]})
        now = self.clock.now()
        salons = [self.salons[salon_id] for salon_id in salon_ids]
        for salon in salons:
            salon.discounts.append(Discount(discount=discount, date=yclients_time(now)))
            salon.note(now, "discount", f"Скидка на оплату: {discount:g}", SOURCE_PARTNER_API)
        return salons
