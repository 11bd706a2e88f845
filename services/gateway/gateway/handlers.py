"""What the gateway does with the events it consumes (``gateway.relay``): pass each on to the
onboarding page of its connection, and revoke a connection's tokens once it is done with.

Handlers that only pass an event on are ``Relay``s: no unit of work, no database. The page's
Russian sentences for WhatsApp's endings live here too.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from gateway import revocations
from gateway.qr_image import qr_data_url
from shared.bus import Handlers, Relay
from shared.db import UnitOfWork
from shared.messages import (
    ActivationCompleted,
    ActivationFailed,
    ActivationStarted,
    PairingCodeIssued,
    QrIssued,
    SessionConnected,
    SessionFailed,
    SessionLoggedOut,
    SessionStateChanged,
)

# Emits a Socket.IO event (name, data) to a connection's room, on whichever instance holds it.
Emit = Callable[[str, dict[str, Any], str], Awaitable[None]]

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


async def show_qr(qr: QrIssued, *, emit: Emit) -> None:
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


async def show_pairing_code(code: PairingCodeIssued, *, emit: Emit) -> None:
    await emit("pairing-code", {"code": code.code}, code.session_id)


async def show_state(status: SessionStateChanged, *, emit: Emit) -> None:
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


async def show_linked(connected: SessionConnected, *, emit: Emit) -> None:
    await emit(
        "status",
        {"stage": "linked", "whatsapp": {"state": "connected", "reason": None}},
        connected.session_id,
    )


async def on_logged_out(logged_out: SessionLoggedOut, uow: UnitOfWork, *, emit: Emit) -> None:
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


async def show_login_failure(error: SessionFailed, *, emit: Emit) -> None:
    message, action = WA_ERRORS.get(error.reason, WA_ERROR_DEFAULT)
    await emit(
        "error", {"code": error.reason, "message": message, "action": action}, error.session_id
    )


async def show_activation_started(started: ActivationStarted, *, emit: Emit) -> None:
    await emit(
        "status", {"stage": "activating", "salonIds": started.salon_ids}, started.connection_id
    )


async def on_activation_completed(
    completed: ActivationCompleted, uow: UnitOfWork, *, emit: Emit
) -> None:
    await emit("connected", {"salonIds": completed.salon_ids}, completed.connection_id)
    await emit(
        "status", {"stage": "done", "salonIds": completed.salon_ids}, completed.connection_id
    )
    # Done: nothing more may be asked with this connection's tokens.
    await revocations.revoke(uow, uuid.UUID(completed.connection_id), "activated")


async def show_activation_failure(failed: ActivationFailed, *, emit: Emit) -> None:
    await emit(
        "error",
        {
            "code": failed.reason,
            "message": failed.message,
            "action": "retry-activation" if failed.retryable else "restart",
        },
        failed.connection_id,
    )


def handlers(emit: Emit) -> Handlers:
    def relay(handler: Callable[..., Awaitable[None]]) -> Relay:
        return Relay(partial(handler, emit=emit))

    return {
        QrIssued: relay(show_qr),
        PairingCodeIssued: relay(show_pairing_code),
        SessionStateChanged: relay(show_state),
        SessionConnected: relay(show_linked),
        SessionLoggedOut: partial(on_logged_out, emit=emit),
        SessionFailed: relay(show_login_failure),
        ActivationStarted: relay(show_activation_started),
        ActivationCompleted: partial(on_activation_completed, emit=emit),
        ActivationFailed: relay(show_activation_failure),
    }
