"""The sandbox's settings: one frozen object, from the command line and SANDBOX_* variables."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

IdsForm = Literal["auto", "brackets", "indexed", "single"]
IDS_FORMS: tuple[str, ...] = get_args(IdsForm)


@dataclass(frozen=True)
class SalonConfig:
    id: int
    name: str


@dataclass(frozen=True)
class TariffConfig:
    """One tariff of the application, offered with one option: a price for so many months."""

    title: str
    price: float
    months: int = 1
    currency_iso: str = "RUB"


@dataclass(frozen=True)
class UserConfig:
    """The admin who clicks "Подключить"; sent to the redirect URL as `user_data`."""

    id: int = 1209543
    name: str = "Анна Смирнова"
    phone: str = "79161234567"
    email: str = "anna.smirnova@example.ru"
    is_approved: bool = True
    avatar: str = "https://assets.yclients.com/general/0/0a/0a1b2c3d4e5f6a7_20250101120000.png"


DEFAULT_SALONS: tuple[SalonConfig, ...] = (
    SalonConfig(101, "Салон на Тверской"),
    SalonConfig(102, "Салон на Арбате"),
    SalonConfig(103, "Барбершоп «Борода» на Невском"),
)


@dataclass(frozen=True)
class SandboxConfig:
    partner_token: str
    application_id: int = 45
    host: str = "127.0.0.1"
    port: int = 8090
    redirect_url: str = "http://127.0.0.1:8080/auth/yclients/redirect"
    callback_url: str = "http://127.0.0.1:8081/callback/yclients"
    salons: tuple[SalonConfig, ...] = DEFAULT_SALONS
    user: UserConfig = field(default_factory=UserConfig)
    # How the marketplace page writes the salon ids: "auto" is `salon_id=` for one salon and
    # `salon_ids[]=` for several; "brackets", "indexed" (`salon_ids[0]=`) and "single" force a form.
    ids_form: IdsForm = "auto"
    activation_window_seconds: float = 3600.0
    # Per client IP; 0 switches a limit off.
    rate_per_second: int = 5
    rate_per_minute: int = 200
    webhook_timeout_seconds: float = 10.0
    webhook_retries: int = 2
    webhook_retry_delay_seconds: float = 1.5
    # YClients' notification module: where it posts notifications for our channel (the operator
    # URL); None sends none. Reminders go this long before the visit.
    notify_url: str | None = None
    reminder_before_seconds: float = 7200.0
    # The sandbox's own address as our services reach it, for `delivery_callback_url` and the
    # payment link; None: the address it listens on.
    public_url: str | None = None
    # The client the page's «Создать запись» books (the phone the WhatsApp emulator plays).
    client_phone: str = "79990001111"
    client_name: str = "Ольга Петрова"
    service: str = "Стрижка женская"
    # The application's tariffs; without any, the payment link answers 404 «Произошла ошибка».
    tariffs: tuple[TariffConfig, ...] = ()
    # An installed salon without a payment is frozen this long after the install; 0: never.
    trial_seconds: float = 0.0


_SALON = re.compile(r'\s*(\d+)\s*:\s*(?:"([^"]*)"|([^,"]*))\s*(,|$)')


def parse_salons(text: str) -> tuple[SalonConfig, ...]:
    """Parse `101:"Салон на Тверской",102:Салон на Арбате` (names may be quoted)."""
    salons = []
    position = 0
    while position < len(text):
        match = _SALON.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"cannot read salons from {text!r}; expected 101:Name,102:Name")
        name = match.group(2) if match.group(2) is not None else match.group(3).strip()
        if not name:
            raise ValueError(f"salon {match.group(1)} has no name")
        salons.append(SalonConfig(int(match.group(1)), name))
        position = match.end()
    if not salons:
        raise ValueError("no salons given")
    if len({salon.id for salon in salons}) != len(salons):
        raise ValueError("salon ids must be unique")
    return tuple(salons)


_TARIFF = re.compile(
    r"\s*([^:,]+?)\s*:\s*(\d+(?:\.\d+)?)\s*(?::\s*(\d+)\s*)?(?::\s*([A-Z]{3})\s*)?$"
)


def parse_tariffs(text: str) -> tuple[TariffConfig, ...]:
    """Parse `Месяц:1990,Год:19900:12:RUB` (title:price[:months[:currency]]); empty: none."""
    tariffs = []
    for part in text.split(","):
        if not part.strip():
            continue
        match = _TARIFF.match(part)
        if match is None:
            raise ValueError(f"cannot read a tariff from {part!r}; expected Title:price[:months]")
        months = int(match.group(3)) if match.group(3) else 1
        if months < 1:
            raise ValueError(f"tariff {match.group(1)!r} must last at least a month")
        tariffs.append(
            TariffConfig(match.group(1), float(match.group(2)), months, match.group(4) or "RUB")
        )
    return tuple(tariffs)


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    def default(name: str, fallback: str | None = None) -> str | None:
        return env.get(f"SANDBOX_{name}", fallback)

    defaults = SandboxConfig(partner_token="")
    parser = argparse.ArgumentParser(
        prog="python -m yclients_sandbox",
        description=(
            "YClients Marketplace sandbox: partner API with billing, marketplace page, "
            "webhook sender, notification module."
        ),
    )
    add = parser.add_argument
    add("--host", default=default("HOST", defaults.host))
    add("--port", type=int, default=default("PORT", str(defaults.port)))
    add(
        "--partner-token",
        default=default("PARTNER_TOKEN"),
        help="required (or SANDBOX_PARTNER_TOKEN)",
    )
    add(
        "--application-id",
        type=int,
        default=default("APPLICATION_ID", str(defaults.application_id)),
    )
    add("--redirect-url", default=default("REDIRECT_URL", defaults.redirect_url))
    add("--callback-url", default=default("CALLBACK_URL", defaults.callback_url))
    add(
        "--salons",
        type=parse_salons,
        default=default("SALONS"),
        help='e.g. 101:"Салон",102:"Другой"',
    )
    add("--ids-form", choices=IDS_FORMS, default=default("IDS_FORM", defaults.ids_form))
    add("--user-id", type=int, default=default("USER_ID", str(defaults.user.id)))
    add("--user-name", default=default("USER_NAME", defaults.user.name))
    add("--user-phone", default=default("USER_PHONE", defaults.user.phone))
    add("--user-email", default=default("USER_EMAIL", defaults.user.email))
    add(
        "--activation-window-seconds",
        type=float,
        default=default("ACTIVATION_WINDOW_SECONDS", str(defaults.activation_window_seconds)),
    )
    add(
        "--rate-per-second",
        type=int,
        default=default("RATE_PER_SECOND", str(defaults.rate_per_second)),
    )
    add(
        "--rate-per-minute",
        type=int,
        default=default("RATE_PER_MINUTE", str(defaults.rate_per_minute)),
    )
    add(
        "--webhook-timeout-seconds",
        type=float,
        default=default("WEBHOOK_TIMEOUT_SECONDS", str(defaults.webhook_timeout_seconds)),
    )
    add(
        "--webhook-retries",
        type=int,
        default=default("WEBHOOK_RETRIES", str(defaults.webhook_retries)),
    )
    add(
        "--webhook-retry-delay-seconds",
        type=float,
        default=default("WEBHOOK_RETRY_DELAY_SECONDS", str(defaults.webhook_retry_delay_seconds)),
    )
    add(
        "--notify-url",
        default=default("NOTIFY_URL"),
        help="the operator URL: where YClients' notification module posts to our channel",
    )
    add(
        "--reminder-before-seconds",
        type=float,
        default=default("REMINDER_BEFORE_SECONDS", str(defaults.reminder_before_seconds)),
    )
    add(
        "--public-url",
        default=default("PUBLIC_URL"),
        help="the sandbox's address as our services reach it (default: where it listens)",
    )
    add("--client-phone", default=default("CLIENT_PHONE", defaults.client_phone))
    add("--client-name", default=default("CLIENT_NAME", defaults.client_name))
    add("--service", default=default("SERVICE", defaults.service))
    add(
        "--tariffs",
        type=parse_tariffs,
        default=default("TARIFFS", ""),
        help="e.g. Месяц:1990,Год:19900:12 (title:price[:months[:currency]]); none by default",
    )
    add(
        "--trial-seconds",
        type=float,
        default=default("TRIAL_SECONDS", str(defaults.trial_seconds)),
        help="freeze an unpaid salon this long after its install; 0 never",
    )
    return parser


def config_from_args(argv: Sequence[str], env: Mapping[str, str] = os.environ) -> SandboxConfig:
    """Command-line options win over SANDBOX_* variables, which win over the defaults."""
    parser = _parser(env)
    args = parser.parse_args(argv)
    if not args.partner_token:
        parser.error("--partner-token (or SANDBOX_PARTNER_TOKEN) is required")
    user = UserConfig(
        id=args.user_id, name=args.user_name, phone=args.user_phone, email=args.user_email
    )
    return SandboxConfig(
        partner_token=args.partner_token,
        application_id=args.application_id,
        host=args.host,
        port=args.port,
        redirect_url=args.redirect_url,
        callback_url=args.callback_url,
        salons=args.salons or DEFAULT_SALONS,
        user=user,
        ids_form=args.ids_form,
        activation_window_seconds=args.activation_window_seconds,
        rate_per_second=args.rate_per_second,
        rate_per_minute=args.rate_per_minute,
        webhook_timeout_seconds=args.webhook_timeout_seconds,
        webhook_retries=args.webhook_retries,
        webhook_retry_delay_seconds=args.webhook_retry_delay_seconds,
        notify_url=args.notify_url or None,
        reminder_before_seconds=args.reminder_before_seconds,
        public_url=(args.public_url or None) or f"http://{listening_host(args.host)}:{args.port}",
        client_phone=args.client_phone,
        client_name=args.client_name,
        service=args.service,
        # argparse applies `type` to a string default too, so an env value arrives parsed.
        tariffs=args.tariffs,
        trial_seconds=args.trial_seconds,
    )


def listening_host(host: str) -> str:
    """A host to reach a server listening on `host` (all interfaces: this machine)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
