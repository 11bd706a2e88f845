"""Forgetting what onboarding left behind: abandoned connections, their tokens, sessions and
never-installed salons, expired tokens and rate-limit counters.

A redirect creates rows whether or not the admin ever scans the QR; left alone they would pile
up (and a flood of redirects would leave a flood of rows). A connection is abandoned once it is
older than ``abandoned_after`` (past the claim window and the token's life) without being
installed. Its WhatsApp login is logged out first if it still runs, and the rows go at the next
round. One gateway instance sweeps at a time (a transaction-scoped advisory lock).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import structlog
from prometheus_client import Counter
from sqlalchemy import delete, func, select, text, update

from shared.bus import Outbox
from shared.db import Database
from shared.limits import prune
from shared.messages import LogoutSession
from shared.models import Company, Connection, IntegrationStatus, MarketplaceToken, WaSession

log = structlog.get_logger(__name__)

SWEPT = Counter("gateway_swept_total", "Rows the sweeper removed", ["what"])
# Any constant shared by the gateway instances: who holds it sweeps.
SWEEP_LOCK = 0x5EE9
ABANDONED_STATUSES = ("pending", "superseded", "activation_failed")
NEVER_INSTALLED = (IntegrationStatus.PENDING, IntegrationStatus.ACTIVATION_FAILED)
TOKENS_KEPT_AFTER_EXPIRY = timedelta(days=1)


@dataclass(frozen=True)
class Swept:
    connections: int = 0
    logged_out: int = 0
    salons: int = 0
    tokens: int = 0
    counters: int = 0


async def sweep_once(database: Database, outbox: Outbox, abandoned_after: timedelta) -> Swept:
    async with database.unit_of_work() as uow:
        session = uow.session
        if not await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({SWEEP_LOCK})")):
            return Swept()
        abandoned = (
            select(Connection.id)
            .where(
                Connection.status.in_(ABANDONED_STATUSES),
                Connection.created_at < func.now() - abandoned_after,
            )
            .scalar_subquery()
        )
        running = list(
            await session.scalars(
                select(WaSession.id).where(WaSession.id.in_(abandoned), WaSession.desired_running)
            )
        )
        for session_id in running:
            uow.publish(
                LogoutSession(session_id=str(session_id), reason="abandoned"), str(session_id)
            )
        # Salons that were installed once go back to uninstalled; the others are forgotten.
        await session.execute(
            update(Company)
            .where(
                Company.connection_id.in_(abandoned),
                Company.connection_id.not_in(running),
                Company.integration_status.in_(NEVER_INSTALLED),
                Company.activated_at.is_not(None),
            )
            .values(integration_status=IntegrationStatus.UNINSTALLED, connection_id=None)
        )
        salons = await session.execute(
            delete(Company).where(
                Company.connection_id.in_(abandoned),
                Company.connection_id.not_in(running),
                Company.integration_status.in_(NEVER_INSTALLED),
            )
        )
        connections = await session.execute(
            delete(Connection).where(Connection.id.in_(abandoned), Connection.id.not_in(running))
        )
        tokens = await session.execute(
            delete(MarketplaceToken).where(
                MarketplaceToken.expires_at < func.now() - TOKENS_KEPT_AFTER_EXPIRY
            )
        )
        counters = await prune(session)
        await uow.commit()
    await outbox.flush(uow)
    swept = Swept(
        connections=_count(connections),
        logged_out=len(running),
        salons=_count(salons),
        tokens=_count(tokens),
        counters=counters,
    )
    for what, count in vars(swept).items():
        SWEPT.labels(what).inc(count)
    if swept != Swept():
        log.info("swept", **vars(swept))
    return swept


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def run_sweeper(
    database: Database, outbox: Outbox, abandoned_after: timedelta, interval: float
) -> None:
    while True:
        # A round's wait first: instances that start together do not all sweep at once.
        await asyncio.sleep(interval)
        try:
            await sweep_once(database, outbox, abandoned_after)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("sweep failed; will try again", error=repr(exc))
