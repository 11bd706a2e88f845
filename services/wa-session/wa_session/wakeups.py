"""Commands act at once: whoever records a command wakes the instance that must apply it.

A command may be consumed by any instance, while only the session's lease owner (or, for a
session nobody owns, any instance that claims it) acts on it. Without a nudge that instance
would see it at its next lease poll. So the command's transaction also sends a PostgreSQL
``NOTIFY`` naming the instance to wake (the owner, or nobody in particular); PostgreSQL delivers
it only once that transaction committed, and each instance listens on its own connection.
Should that connection drop, the keepers' lease polls still apply every command, only later.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from sqlalchemy import func, select

from shared.db import UnitOfWork

log = structlog.get_logger(__name__)

CHANNEL = "wa_session_commands"
ANY_INSTANCE = ""


async def notify(uow: UnitOfWork, owner: str | None) -> None:
    """Wake ``owner`` (or any instance when the session has no live owner) once ``uow`` commits."""
    await uow.session.execute(select(func.pg_notify(CHANNEL, owner or ANY_INSTANCE)))


async def listen(
    database_url: str, instance_id: str, wake: Callable[[], None]
) -> Callable[[], Awaitable[None]]:
    """Wake this instance's lease keeper on every notification meant for it; returns the stop."""
    connection = await asyncpg.connect(
        database_url.replace("postgresql+asyncpg://", "postgresql://")
    )

    def on_notification(_connection: object, _pid: int, _channel: str, payload: str) -> None:
        if payload in (instance_id, ANY_INSTANCE):
            wake()

    await connection.add_listener(CHANNEL, on_notification)
    connection.add_termination_listener(
        lambda _connection: log.warning("command wake-ups lost; applying commands at each poll")
    )

    async def stop() -> None:
        with contextlib.suppress(Exception):
            await connection.close()

    return stop
