"""``wa.session.start|stop|logout``: recorded in ``wa_sessions`` by whichever instance takes them.

Any instance may consume a command; it records the desired state in the same transaction as the
message's dedupe row and wakes (``wakeups``) the session's lease owner, which applies it at once
(or, when nobody owns the session, any instance's keeper, which claims it). So a command for a
session owned by another live instance still takes effect, and repeating one changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from shared.bus import Handlers, PermanentError
from shared.db import UnitOfWork
from shared.messages import (
    LogoutSession,
    SessionCommand,
    SessionLoggedOut,
    SessionStateChanged,
    StartSession,
    StopSession,
)
from shared.models import Connection, WaSession
from wa_session import wakeups
from wa_session.auth_store import wipe

log = structlog.get_logger(__name__)

# States after which WhatsApp ended the login; a start begins again from there.
ENDED = {"qr_expired", "logged_out", "replaced", "failed", "stopped"}


def _session_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise PermanentError(f"session_id is not a uuid: {raw[:64]!r}") from None


async def _locked(uow: UnitOfWork, session_id: uuid.UUID) -> tuple[WaSession, bool] | None:
    """The session row, locked, and whether some instance holds a live lease on it."""
    # A command for a session not started yet still leaves its mark (command_at), so that a
    # start asked for before it but handled after it changes nothing.
    await uow.session.execute(
        insert(WaSession).values(id=session_id, state="stopped").on_conflict_do_nothing()
    )
    row = (
        await uow.session.execute(
            # clock_timestamp, not now(): the lock may have waited for the owner's last write.
            select(WaSession, WaSession.lease_expires_at > func.clock_timestamp())
            .where(WaSession.id == session_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        return None
    return row[0], bool(row[1])


def _publish_status(uow: UnitOfWork, session: WaSession) -> None:
    uow.publish(
        SessionStateChanged(
            session_id=str(session.id),
            state=session.state,
            seq=session.seq,
            reason=session.reason,
        ),
        str(session.id),
    )


def _newest(session: WaSession, asked: datetime) -> bool:
    """Whether no later command was applied already; if so, this one is now the last."""
    if session.command_at is not None and asked < session.command_at:
        return False
    session.command_at = asked
    return True


def _ignored(command: SessionCommand, session: WaSession) -> None:
    log.info(
        "command overtaken by a later one; ignored",
        command=command.message_type,
        session_id=str(session.id),
    )


def _record(session: WaSession, state: str, reason: str | None) -> None:
    session.state = state
    session.seq += 1
    session.reason = reason
    session.updated_at = func.now()


async def start(command: StartSession, uow: UnitOfWork) -> None:
    session_id = _session_id(command.session_id)
    if command.pairing_phone is not None and not (
        command.pairing_phone.isdigit() and 6 <= len(command.pairing_phone) <= 15
    ):
        raise PermanentError("pairing_phone must be 6 to 15 digits")
    if await uow.session.get(Connection, session_id) is None:
        raise PermanentError(f"no connection {session_id}")
    found = await _locked(uow, session_id)
    assert found is not None
    session, leased = found
    if not _newest(session, command.requested_at):
        _ignored(command, session)
        return
    if session.desired_running and session.pending_action is None:
        # Already running (or being started): say where it is, change nothing.
        _publish_status(uow, session)
        return
    # A logout still pending is kept: the owner logs the old device out and wipes the state
    # first, and since the session should run, it is claimed again as a fresh login (new QR).
    session.desired_running = True
    session.pairing_phone = command.pairing_phone
    if session.state == "logged_out":
        await wipe(uow, session_id)
    await wakeups.notify(uow, session.owner if leased else None)


async def stop(command: StopSession, uow: UnitOfWork) -> None:
    session_id = _session_id(command.session_id)
    if await uow.session.get(Connection, session_id) is None:
        return
    found = await _locked(uow, session_id)
    if found is None:
        return
    session, leased = found
    if not _newest(session, command.requested_at):
        _ignored(command, session)
        return
    session.desired_running = False
    if leased:
        await wakeups.notify(uow, session.owner)
    elif session.state not in ENDED:
        # Nobody holds a socket for it: record the stop here.
        _record(session, "stopped", "requested")
        _publish_status(uow, session)


async def logout(command: LogoutSession, uow: UnitOfWork) -> None:
    session_id = _session_id(command.session_id)
    if await uow.session.get(Connection, session_id) is None:
        return
    found = await _locked(uow, session_id)
    if found is None:
        return
    session, leased = found
    asked = command.requested_at
    if session.wiped_at is not None and asked < session.wiped_at:
        _ignored(command, session)  # the device it meant is gone already
        return
    # A start asked for after this logout keeps the session running: the old device is logged
    # out, then a fresh login begins.
    if _newest(session, asked):
        session.desired_running = False
    if session.state == "logged_out":
        return
    if leased:
        # The owner logs the socket out (WhatsApp forgets the device), then wipes the state.
        session.pending_action = "logout"
        await wakeups.notify(uow, session.owner)
        return
    await wipe(uow, session_id)
    session.pending_action = None
    _record(session, "logged_out", command.reason)
    _publish_status(uow, session)
    uow.publish(
        SessionLoggedOut(session_id=str(session_id), phone=session.phone, reason=command.reason),
        str(session_id),
    )
    session.phone = None
    session.linked_at = None
    if session.desired_running:
        await wakeups.notify(uow, None)  # the fresh login a later start asked for


HANDLERS: Handlers = {
    StartSession: start,
    StopSession: stop,
    LogoutSession: logout,
}
