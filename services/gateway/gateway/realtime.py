"""Socket.IO namespace ``/marketplace`` and the relay of bus events to its rooms.

Each browser joins the room named by its connection id. Events come from RabbitMQ through the
shared Consumer on any gateway instance; the Socket.IO client manager (aio-pika) fans each emit
out to the instance that holds the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import socketio
import structlog

from gateway import actions, revocations
from gateway.actions import token_refused
from gateway.client_address import Network, client_address
from gateway.limits import GatewayLimits
from gateway.qr_image import qr_data_url
from gateway.settings import GatewaySettings
from gateway.tokens import OnboardingClaims
from shared.db import UnitOfWork
from shared.messages import (
    ActivationCompleted,
    ActivationFailed,
    ActivationStarted,
    Envelope,
    SessionConnected,
    SessionError,
    SessionLoggedOut,
    SessionPairingCode,
    SessionQr,
    SessionStatus,
)
from shared.refusals import Refusal
from shared.runtime import Infrastructure

log = structlog.get_logger(__name__)

NAMESPACE = "/marketplace"


def refusal_event(refusal: Refusal) -> dict[str, Any]:
    """A refusal as the page shows it: the message and the next step it offers."""
    action = {401: "restart", 429: "request-qr"}.get(refusal.status)
    return {"code": refusal.code, "message": refusal.message, "action": action}


class MarketplaceNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Holds its dependencies only; what a client is lives in its Socket.IO session.

    The token is checked at connect and again on every client event (it may have been revoked
    meanwhile), and a socket is ended when its token expires, so an open page never outlives it.
    A refusal raised by any handler reaches the page as an ``error`` event (see trigger_event).
    """

    def __init__(
        self,
        infra: Callable[[], Infrastructure],
        settings: GatewaySettings,
        limits: GatewayLimits,
        trusted_proxies: list[Network],
    ) -> None:
        super().__init__(NAMESPACE)
        self._infra = infra
        self._settings = settings
        self._limits = limits
        self._trusted_proxies = trusted_proxies

    async def _authenticate(self, token: object) -> OnboardingClaims:
        return await actions.authenticate(
            self._infra(),
            token if isinstance(token, str) else None,
            self._settings.jwt_secret.get_secret_value(),
        )

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        claims = await self._authenticate(token)
        expiry = asyncio.get_running_loop().call_later(
            (claims.expires_at - datetime.now(UTC)).total_seconds(),
            lambda: asyncio.ensure_future(self._end(sid, token_refused("expired"))),
        )
        address = client_address(environ["aiohttp.request"], self._trusted_proxies)
        await self.save_session(sid, {"token": token, "expiry": expiry, "address": address})
        await self.enter_room(sid, str(claims.connection_id))
        await self._send_status(sid, claims.connection_id)

    async def on_disconnect(self, sid: str, *_reason: Any) -> None:
        with contextlib.suppress(KeyError):
            (await self.get_session(sid))["expiry"].cancel()

    async def _end(self, sid: str, refusal: Refusal) -> None:
        await self.emit("error", refusal_event(refusal), to=sid)
        await self.disconnect(sid)

    async def _connection(self, sid: str) -> uuid.UUID:
        """The socket's connection, if its token still holds (else a 401 refusal ends it)."""
        claims = await self._authenticate((await self.get_session(sid)).get("token"))
        return claims.connection_id

    async def _send_status(self, sid: str, connection_id: uuid.UUID) -> None:
        state = await actions.current_state(self._infra(), connection_id)
        await self.emit("status", state.to_json(), to=sid)

    async def on_check_status(self, sid: str, _data: Any = None) -> None:
        await self._send_status(sid, await self._connection(sid))

    async def on_request_qr(self, sid: str, data: Any = None) -> None:
        connection_id = await self._connection(sid)
        phone = data.get("phone") if isinstance(data, dict) else None
        address = (await self.get_session(sid))["address"]
        await actions.request_qr(self._infra(), self._limits, connection_id, phone, address)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Every event's refusals in one place: at connect the socket is refused, later the
        page gets an ``error``; a token that no longer holds (401) ends the socket."""
        try:
            # Client event names have dashes ("request-qr"); handlers cannot.
            return await super().trigger_event(event.replace("-", "_"), *args)
        except Refusal as refusal:
            if event == "connect":
                raise socketio.exceptions.ConnectionRefusedError(
                    refusal.message, refusal_event(refusal)
                ) from None
            sid = args[0]
            if refusal.status == 401:
                await self._end(sid, refusal)
            else:
                await self.emit("error", refusal_event(refusal), to=sid)
            return None


# --- the relay: bus events to rooms -------------------------------------------------------------

# What the page says when WhatsApp ends a login, and the next step it offers.
WA_ERRORS: dict[str, tuple[str, str]] = {
    "logged_out": (
        "WhatsApp отключил это устройство. Получите новый QR-код и отсканируйте его.",
        "request-qr",
    ),
    "replaced": ("WhatsApp открыт на другом устройстве. Получите новый QR-код.", "request-qr"),
    "qr_expired": ("QR-код истёк. Получите новый QR-код.", "request-qr"),
    "passkey_required": (
        "WhatsApp просит подтвердить вход ключом доступа (passkey) — на этой странице так "
        "подключить нельзя. Подключите WhatsApp по номеру телефона: введите номер и код из "
        "WhatsApp.",
        "show-phone",
    ),
    "pairing_code_failed": (
        "Не удалось подключить по коду из WhatsApp. Получите QR-код и отсканируйте его.",
        "request-qr",
    ),
    "client_too_old": (
        "WhatsApp сейчас не принимает подключение от AI Admin. Мы уже исправляем это — "
        "попробуйте ещё раз через час.",
        "request-qr",
    ),
}
WA_ERROR_DEFAULT = (
    "Не удалось подключить WhatsApp. Получите новый QR-код и попробуйте ещё раз.",
    "request-qr",
)

Emit = Callable[[str, dict[str, Any], str], Awaitable[None]]


async def relay_qr(envelope: Envelope, _uow: UnitOfWork, *, emit: Emit) -> None:
    qr = envelope.parse(SessionQr)
    await emit(
        "qr",
        {
            "image": qr_data_url(qr.qr),
            "index": qr.index,
            "expiresAt": qr.expires_at.isoformat(),
            # The same QR re-rendered (WhatsApp retired its secret): swap the image, no new try.
            "refresh": qr.refresh,
        },
        qr.session_id,
    )


async def relay_pairing_code(envelope: Envelope, _uow: UnitOfWork, *, emit: Emit) -> None:
    code = envelope.parse(SessionPairingCode)
    await emit("pairing-code", {"code": code.code}, code.session_id)


async def relay_status(envelope: Envelope, _uow: UnitOfWork, *, emit: Emit) -> None:
    status = envelope.parse(SessionStatus)
    await emit(
        "status",
        {
            "whatsapp": {
                "state": status.state,
                "reason": status.reason,
                "retryInSeconds": status.retry_in_seconds,
            },
            "qrExpiresAt": status.qr_expires_at.isoformat() if status.qr_expires_at else None,
        },
        status.session_id,
    )


async def relay_connected(envelope: Envelope, _uow: UnitOfWork, *, emit: Emit) -> None:
    connected = envelope.parse(SessionConnected)
    await emit(
        "status",
        {"stage": "linked", "whatsapp": {"state": "connected", "reason": None}},
        connected.session_id,
    )


async def relay_logged_out(envelope: Envelope, uow: UnitOfWork, *, emit: Emit) -> None:
    logged_out = envelope.parse(SessionLoggedOut)
    if logged_out.reason == "uninstalled":
        # The page has nothing left to do; its token goes with the installation.
        await revocations.revoke(uow, uuid.UUID(logged_out.session_id), "uninstalled")
        return
    if logged_out.reason == "superseded":
        return  # the page was ended when the newer redirect revoked its token
    message, action = WA_ERRORS.get(logged_out.reason, WA_ERRORS["logged_out"])
    await emit(
        "error",
        {"code": logged_out.reason, "message": message, "action": action},
        logged_out.session_id,
    )


async def relay_wa_error(envelope: Envelope, _uow: UnitOfWork, *, emit: Emit) -> None:
    error = envelope.parse(SessionError)
    message, action = WA_ERRORS.get(error.reason, WA_ERROR_DEFAULT)
    await emit(
        "error", {"code": error.reason, "message": message, "action": action}, error.session_id
    )


async def relay_activation_started(envelope: Envelope, _uow: UnitOfWork, *, emit: Emit) -> None:
    started = envelope.parse(ActivationStarted)
    await emit(
        "status", {"stage": "activating", "salonIds": started.salon_ids}, started.connection_id
    )


async def relay_activation_completed(envelope: Envelope, uow: UnitOfWork, *, emit: Emit) -> None:
    completed = envelope.parse(ActivationCompleted)
    await emit("connected", {"salonIds": completed.salon_ids}, completed.connection_id)
    await emit(
        "status", {"stage": "done", "salonIds": completed.salon_ids}, completed.connection_id
    )
    # Done: nothing more may be asked with this connection's tokens.
    await revocations.revoke(uow, uuid.UUID(completed.connection_id), "activated")


async def relay_activation_failed(envelope: Envelope, _uow: UnitOfWork, *, emit: Emit) -> None:
    failed = envelope.parse(ActivationFailed)
    await emit(
        "error",
        {
            "code": failed.reason,
            "message": failed.message,
            "action": "retry-activation" if failed.retryable else "restart",
        },
        failed.connection_id,
    )


RELAY = {
    SessionQr.message_type: relay_qr,
    SessionPairingCode.message_type: relay_pairing_code,
    SessionStatus.message_type: relay_status,
    SessionConnected.message_type: relay_connected,
    SessionLoggedOut.message_type: relay_logged_out,
    SessionError.message_type: relay_wa_error,
    ActivationStarted.message_type: relay_activation_started,
    ActivationCompleted.message_type: relay_activation_completed,
    ActivationFailed.message_type: relay_activation_failed,
}


def relay_handlers(
    sio: socketio.AsyncServer,
) -> dict[str, Callable[[Envelope, UnitOfWork], Awaitable[None]]]:
    async def emit(event: str, data: dict[str, Any], room: str) -> None:
        await sio.emit(event, data, room=room, namespace=NAMESPACE)
        # Never the data: a QR string is a credential for the next 20 seconds.
        log.info("relayed", socket_event=event, room=room)

    return {
        message_type: functools.partial(handler, emit=emit)
        for message_type, handler in RELAY.items()
    }
