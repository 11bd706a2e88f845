"""Ending onboarding tokens, and the pages still connected with them, on every gateway.

A token is revoked when its connection is superseded (the same admin started over), activated
(the page has nothing left to do) or uninstalled. The revocation is one transaction with the
event that tells every gateway instance; each one ends the sockets it holds in that room: a
final ``revoked`` event saying why and what to do, then a server-side disconnect.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import socketio
import structlog

from gateway import tokens
from shared.bus import listen
from shared.db import UnitOfWork
from shared.messages import Envelope, OnboardingTokensRevoked, RevocationReason
from shared.runtime import Infrastructure

log = structlog.get_logger(__name__)


# What the page shows, and the action it offers, once its token is gone.
ENDINGS: dict[RevocationReason, tuple[str, str | None]] = {
    "superseded": (
        "Эти филиалы подключаются по другой, более новой ссылке. Продолжите там или "
        "нажмите «Подключить» в YClients ещё раз.",
        "restart",
    ),
    "activated": ("Готово! AI Admin подключён для ваших филиалов.", None),
    "uninstalled": (
        "Приложение отключено в YClients. Чтобы подключить его снова, нажмите «Подключить» "
        "в YClients.",
        "restart",
    ),
}


async def revoke(uow: UnitOfWork, connection_id: uuid.UUID, reason: RevocationReason) -> None:
    await tokens.revoke_all(uow.session, connection_id)
    uow.publish(
        OnboardingTokensRevoked(connection_id=str(connection_id), reason=reason),
        str(connection_id),
    )


class OpenPages:
    """This instance's end of revocations: its sockets in a revoked connection's room."""

    def __init__(self, sio: socketio.AsyncServer, namespace: str) -> None:
        self._sio = sio
        self._namespace = namespace

    async def end(self, connection_id: str, reason: RevocationReason) -> None:
        message, action = ENDINGS[reason]
        sids = [
            sid for sid, _ in self._sio.manager.get_participants(self._namespace, connection_id)
        ]
        for sid in sids:
            await self._sio.emit(
                "revoked",
                {"reason": reason, "message": message, "action": action},
                to=sid,
                namespace=self._namespace,
            )
            await self._sio.disconnect(sid, namespace=self._namespace)
        if sids:
            log.info("pages ended", correlation_id=connection_id, reason=reason, pages=len(sids))

    async def _on_envelope(self, envelope: Envelope) -> None:
        revoked = envelope.parse(OnboardingTokensRevoked)
        await self.end(revoked.connection_id, revoked.reason)

    async def start(self, infra: Infrastructure) -> Callable[[], Awaitable[None]]:
        keys = (OnboardingTokensRevoked.message_type,)
        return await listen(infra.connection, keys, self._on_envelope)
