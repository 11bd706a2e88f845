"""Leases with an epoch fence: each session has exactly one owner instance at a time.

The keeper renews this instance's leases (every third of the TTL), applies what commands
recorded in the database (desired_running, pending_action) to the sessions it owns, and claims
sessions that should run but have no live owner (new ones, or those of a dead instance).
Commands may land on any instance; only the owner acts, here, within one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import Row, func, select, text, update

from shared.db import Database
from shared.models import WaSession
from wa_session.sessions import SessionManager
from wa_session.settings import WaSessionSettings

log = structlog.get_logger(__name__)

# Renew every TTL/3 so that one missed renewal never costs the lease.
RENEW_FRACTION = 3

# Linked logins (salons depend on them) and unscanned ones (a QR on someone's screen) are
# claimed separately, so that a flood of unscanned logins never takes a linked one's place.
CLAIM = text(
    """
    UPDATE wa_sessions AS s
       SET owner = :owner, epoch = s.epoch + 1,
           lease_expires_at = now() + make_interval(secs => :ttl)
      FROM (SELECT id FROM wa_sessions
             WHERE (desired_running OR pending_action IS NOT NULL)
               AND (lease_expires_at IS NULL OR lease_expires_at < now())
               AND (linked_at IS NOT NULL) = :linked
             ORDER BY updated_at
             LIMIT :limit
             FOR UPDATE SKIP LOCKED) AS free
     WHERE s.id = free.id
    RETURNING s.id, s.epoch, s.pairing_phone, s.desired_running, s.pending_action,
              s.linked_at IS NOT NULL AS linked
    """
)


class LeaseKeeper:
    def __init__(
        self, database: Database, settings: WaSessionSettings, manager: SessionManager
    ) -> None:
        self._database = database
        self._settings = settings
        self._manager = manager
        self._me = settings.instance_id
        self._last_renewed = time.monotonic()
        self._wake = asyncio.Event()
        self._ttl = settings.lease_ttl_seconds

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        ttl = self._settings.lease_ttl_seconds
        next_renewal = 0.0
        while True:
            try:
                if time.monotonic() >= next_renewal:
                    await self.renew()
                    next_renewal = time.monotonic() + ttl / RENEW_FRACTION
                await self.apply_commands()
                await self.claim()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("lease round failed", error=repr(exc))
                await self._drop_if_expired()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.lease_poll_seconds)

    async def renew(self) -> None:
        owned = self._manager.owned()
        if not owned:
            self._last_renewed = time.monotonic()
            return
        started = time.monotonic()
        async with self._database.unit_of_work() as uow:
            rows = (
                await uow.session.execute(
                    update(WaSession)
                    .where(
                        WaSession.owner == self._me,
                        WaSession.id.in_(list(owned)),
                        WaSession.lease_expires_at > func.now(),
                    )
                    .values(lease_expires_at=func.now() + timedelta(seconds=self._ttl))
                    .returning(WaSession.id, WaSession.epoch)
                )
            ).all()
            await uow.commit()
        self._last_renewed = started
        renewed = {(row.id, row.epoch) for row in rows}
        kept = []
        for session_id, live in owned.items():
            if (session_id, live.epoch) in renewed:
                kept.append(live)
            else:
                await self._manager.lose(live)
        await self._manager.renewed(kept, started)

    async def _drop_if_expired(self) -> None:
        """The database is unreachable: once our leases may have expired, stop every socket."""
        if time.monotonic() - self._last_renewed < self._settings.lease_ttl_seconds * 0.9:
            return
        for live in self._manager.owned().values():
            await self._manager.lose(live)

    async def apply_commands(self) -> None:
        owned = self._manager.owned()
        if not owned:
            return
        async with self._database.unit_of_work() as uow:
            rows = (
                await uow.session.execute(
                    select(
                        WaSession.id,
                        WaSession.epoch,
                        WaSession.owner,
                        WaSession.desired_running,
                        WaSession.pending_action,
                    ).where(WaSession.id.in_(list(owned)))
                )
            ).all()
        for row in rows:
            live = owned[row.id]
            if row.owner != self._me or row.epoch != live.epoch:
                await self._manager.lose(live)
            elif row.pending_action == "logout":
                await self._manager.logout(live)
            elif not row.desired_running:
                await self._manager.stop(live)

    async def claim(self) -> None:
        owned = self._manager.owned()
        room = self._settings.max_sessions - len(owned)
        if room <= 0:
            return
        started = time.monotonic()
        unscanned = sum(1 for live in owned.values() if not live.linked)
        rows = await self._claim(linked=True, limit=room)
        unscanned_room = min(room - len(rows), self._settings.max_unscanned_sessions - unscanned)
        if unscanned_room > 0:
            rows += await self._claim(linked=False, limit=unscanned_room)
        if rows:
            log.info("sessions claimed", count=len(rows))
        await asyncio.gather(
            *(
                self._manager.adopt(
                    row.id,
                    row.epoch,
                    row.pairing_phone,
                    logout=row.pending_action == "logout",
                    linked=row.linked,
                    lease_since=started,
                )
                for row in rows
            )
        )

    async def _claim(self, linked: bool, limit: int) -> list[Row[Any]]:
        async with self._database.unit_of_work() as uow:
            rows = (
                await uow.session.execute(
                    CLAIM,
                    {
                        "owner": self._me,
                        "ttl": self._settings.lease_ttl_seconds,
                        "limit": limit,
                        "linked": linked,
                    },
                )
            ).all()
            await uow.commit()
        return list(rows)
