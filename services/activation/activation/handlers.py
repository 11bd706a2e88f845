"""The messages activation handles, one plain function each, and the routing dict."""

from __future__ import annotations

import uuid
from functools import partial

import structlog

from activation.activate import activate_connection
from activation.channel import switch_channel_off
from activation.dependencies import Dependencies
from activation.lifecycle import apply_lifecycle
from shared.bus import Handlers, PermanentError
from shared.db import UnitOfWork
from shared.messages import (
    ActivationFailed,
    LifecycleReceived,
    RetryActivation,
    SessionConnected,
    SessionLoggedOut,
)
from shared.models import Connection, WaSession

log = structlog.get_logger(__name__)

WHATSAPP_NOT_CONNECTED = (
    "WhatsApp ещё не подключён. Отсканируйте QR-код — после этого подключение продолжится само."
)


def connection_id_of(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PermanentError(f"not a connection id: {value!r}") from None


async def on_session_connected(
    event: SessionConnected, uow: UnitOfWork, *, deps: Dependencies
) -> None:
    await activate_connection(uow, deps, connection_id_of(event.session_id), event.phone)


async def on_retry_activation(
    command: RetryActivation, uow: UnitOfWork, *, deps: Dependencies
) -> None:
    """The admin pressed «Повторить»: run activation again if WhatsApp is linked."""
    connection_id = connection_id_of(command.connection_id)
    connection = await uow.session.get(Connection, connection_id)
    if connection is None:
        log.warning("retry for an unknown connection")
        return
    phone = connection.whatsapp_phone
    if phone is None:
        session = await uow.session.get(WaSession, connection_id)
        if session is not None and session.state == "connected":
            phone = session.phone
    if phone is None:
        uow.publish(
            ActivationFailed(
                connection_id=command.connection_id,
                reason="whatsapp_not_connected",
                message=WHATSAPP_NOT_CONNECTED,
                retryable=False,
            ),
            command.connection_id,
        )
        return
    await activate_connection(uow, deps, connection_id, phone)


async def on_session_logged_out(
    event: SessionLoggedOut, uow: UnitOfWork, *, deps: Dependencies
) -> None:
    await switch_channel_off(uow, deps, connection_id_of(event.session_id))


async def on_lifecycle(event: LifecycleReceived, uow: UnitOfWork) -> None:
    await apply_lifecycle(uow, event)


def routes(deps: Dependencies) -> Handlers:
    return {
        SessionConnected: partial(on_session_connected, deps=deps),
        SessionLoggedOut: partial(on_session_logged_out, deps=deps),
        RetryActivation: partial(on_retry_activation, deps=deps),
        LifecycleReceived: on_lifecycle,
    }
