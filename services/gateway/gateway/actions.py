"""What the admin can ask for, through REST or Socket.IO alike: a QR (or a pairing code), the
connection's state, and activation once WhatsApp is linked."""

from __future__ import annotations

import re
import uuid

import structlog

from gateway import tokens
from gateway.limits import GatewayLimits, TooMany, check, wait_phrase
from gateway.onboarding import Snapshot, snapshot, start_login
from shared.limits import Limit
from shared.messages import RetryActivation, StartSession, StopSession
from shared.refusals import Refusal
from shared.runtime import Infrastructure

log = structlog.get_logger(__name__)

TOKEN_REFUSALS = {
    "missing": "Нет ключа доступа. Вернитесь в YClients и нажмите «Подключить» ещё раз.",
    "malformed": "Ключ доступа неверен. Вернитесь в YClients и нажмите «Подключить» ещё раз.",
    "expired": "Время на подключение истекло. Вернитесь в YClients и нажмите «Подключить» ещё раз.",
    "revoked": "Ключ доступа отозван. Вернитесь в YClients и нажмите «Подключить» ещё раз.",
}

_PHONE_PUNCTUATION = re.compile(r"[\s()+\-]")
_PHONE = re.compile(r"^\d{10,15}$")


def token_refused(reason: str) -> Refusal:
    return Refusal(401, f"token_{reason}", TOKEN_REFUSALS[reason])


def normalize_phone(raw: object) -> str | None:
    """International digits for a pairing code (``+7 (999) 123-45-67`` → ``79991234567``)."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise Refusal(422, "bad_phone", "Номер телефона должен быть строкой цифр.")
    digits = _PHONE_PUNCTUATION.sub("", raw)
    if not _PHONE.match(digits):
        raise Refusal(
            422, "bad_phone", "Введите номер целиком, с кодом страны: например 79991234567."
        )
    return digits


async def authenticate(
    infra: Infrastructure, token: str | None, secret: str
) -> tokens.OnboardingClaims:
    """The token's claims if it is signed, unexpired and not revoked; else a 401 refusal."""
    async with infra.database.unit_of_work() as uow:
        try:
            claims = await tokens.verify(uow.session, token, secret)
        except tokens.InvalidToken as exc:
            raise token_refused(exc.reason) from None
    # Everything this request or socket event logs carries the onboarding's correlation id.
    structlog.contextvars.bind_contextvars(correlation_id=str(claims.connection_id))
    return claims


async def current_state(infra: Infrastructure, connection_id: uuid.UUID) -> Snapshot:
    async with infra.database.unit_of_work() as uow:
        found = await snapshot(uow.session, connection_id)
    if found is None:
        raise Refusal(404, "not_found", "Подключение не найдено.")
    return found


def _require_open(state: Snapshot) -> None:
    if state.stage == "superseded":
        raise Refusal(
            409,
            "superseded",
            "Эти филиалы подключаются по другой ссылке. Откройте последнюю ссылку из YClients.",
        )
    if state.stage == "done":
        raise Refusal(409, "already_active", "Все филиалы уже подключены.")


TOO_MANY = (
    "Слишком много запросов QR-кода подряд. Подождите {wait} и нажмите «Получить новый QR-код» "
    "ещё раз."
)


def too_many(refusal: TooMany) -> Refusal:
    return Refusal(
        429,
        "too_many_qr_requests",
        TOO_MANY.format(wait=wait_phrase(refusal.retry_after_seconds)),
        retry_after_seconds=refusal.retry_after_seconds,
    )


async def request_qr(
    infra: Infrastructure,
    limits: GatewayLimits,
    connection_id: uuid.UUID,
    phone: object,
    address: str,
) -> str:
    """Ask wa-session to start the login; returns ``qr`` or ``pairing_code``.

    Counted per connection, per YClients user and per address (and, for a pairing code, per
    target number); a user holds at most a few unscanned logins at once, the oldest are stopped.
    """
    pairing_phone = normalize_phone(phone)
    state = await current_state(infra, connection_id)
    _require_open(state)
    counted: list[tuple[Limit, str | None]] = [
        (limits.qr_per_connection, str(connection_id)),
        (limits.qr_per_user, state.user_id),
        (limits.qr_per_address, address),
    ]
    if pairing_phone is not None:
        counted += [
            (limits.pairing_codes_per_connection, str(connection_id)),
            (limits.pairing_codes_per_phone, pairing_phone),
        ]
    try:
        await check(infra.database, *counted)
    except TooMany as exc:
        raise too_many(exc) from None
    async with infra.database.unit_of_work() as uow:
        login = await start_login(
            uow.session, connection_id, state.user_id, limits.unscanned_logins_per_user
        )
        for other in login.to_stop:
            stop = StopSession(session_id=str(other), requested_at=login.requested_at)
            uow.publish(stop, str(other))
        start = StartSession(
            session_id=str(connection_id),
            pairing_phone=pairing_phone,
            requested_at=login.requested_at,
        )
        uow.publish(start, str(connection_id))
        await uow.commit()
    await infra.outbox.flush(uow)
    if login.to_stop:
        log.info("older unscanned logins stopped", stopped=[str(c) for c in login.to_stop])
    return "pairing_code" if pairing_phone else "qr"


async def activate(infra: Infrastructure, connection_id: uuid.UUID) -> None:
    state = await current_state(infra, connection_id)
    _require_open(state)
    if state.whatsapp_state != "connected":
        raise Refusal(
            409,
            "whatsapp_not_connected",
            "Сначала подключите WhatsApp: отсканируйте QR-код на этой странице.",
        )
    await infra.publisher.send(
        RetryActivation(connection_id=str(connection_id)), str(connection_id)
    )
