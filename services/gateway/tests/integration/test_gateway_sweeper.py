"""The sweeper against the real database and broker: what onboarding abandoned goes, what is in
use stays."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from gateway.sweeper import sweep_once
from sqlalchemy import select

from shared.bus import Outbox, Publisher, connect
from shared.db import Database
from shared.limits import Limit, take
from shared.models import (
    Company,
    Connection,
    MarketplaceToken,
    RateLimitCounter,
    WaSession,
)
from shared.topology import ALL_QUEUES, declare_queue

OLD = datetime.now(UTC) - timedelta(hours=3)
ABANDONED_AFTER = timedelta(hours=2)


@pytest.fixture
async def outbox(test_env, database: Database) -> AsyncIterator[Outbox]:
    connection = await connect(test_env.amqp_url)
    channel = await connection.channel()
    for spec in ALL_QUEUES:  # as every service does at start: nothing published is unroutable
        await declare_queue(channel, spec)
    publisher = await Publisher.open(connection)
    yield Outbox(database, publisher)
    await publisher.close()
    await connection.close()


async def _connection(
    database: Database,
    salon_ids: list[int],
    status: str,
    created_at: datetime,
    salon_status: str = "pending",
    wa_running: bool | None = None,
    activated_before: bool = False,
) -> uuid.UUID:
    connection_id = uuid.uuid4()
    async with database.unit_of_work() as uow:
        uow.session.add(
            Connection(
                id=connection_id, status=status, consented_at=created_at, created_at=created_at
            )
        )
        await uow.session.flush()
        for salon_id in salon_ids:
            uow.session.add(
                Company(
                    id=salon_id,
                    connection_id=connection_id,
                    integration_status=salon_status,
                    activated_at=created_at if activated_before else None,
                )
            )
        uow.session.add(
            MarketplaceToken(
                jti=uuid.uuid4(),
                connection_id=connection_id,
                expires_at=created_at + timedelta(hours=1),
            )
        )
        if wa_running is not None:
            uow.session.add(
                WaSession(id=connection_id, state="waiting_for_scan", desired_running=wa_running)
            )
        await uow.commit()
    return connection_id


async def _exists(database: Database, model, key) -> bool:  # type: ignore[no-untyped-def]
    async with database.unit_of_work() as uow:
        return await uow.session.get(model, key) is not None


async def test_abandoned_onboardings_are_forgotten_and_live_ones_kept(
    database: Database, outbox: Outbox, new_salons
) -> None:
    abandoned_salons, fresh_salons, active_salons, running_salons, again_salons = (
        new_salons(2),
        new_salons(1),
        new_salons(1),
        new_salons(1),
        new_salons(1),
    )
    abandoned = await _connection(database, abandoned_salons, "pending", OLD, wa_running=False)
    fresh = await _connection(database, fresh_salons, "pending", datetime.now(UTC))
    active = await _connection(database, active_salons, "active", OLD, salon_status="active")
    running = await _connection(database, running_salons, "pending", OLD, wa_running=True)
    # A salon installed once, uninstalled, then connected again and abandoned.
    again = await _connection(database, again_salons, "superseded", OLD, activated_before=True)
    async with database.unit_of_work() as uow:
        await take(uow.session, Limit("sweeper-test", 1, 1), "x")
        await uow.commit()

    sweep_started = datetime.now(UTC)
    swept = await sweep_once(database, outbox, ABANDONED_AFTER)

    assert not await _exists(database, Connection, abandoned)
    assert not await _exists(database, WaSession, abandoned)
    for salon_id in abandoned_salons:
        assert not await _exists(database, Company, salon_id)
    assert await _exists(database, Connection, fresh)
    assert await _exists(database, Company, fresh_salons[0])
    assert await _exists(database, Connection, active)
    assert await _exists(database, Company, active_salons[0])
    # Still running: logged out first, removed at a later round.
    assert await _exists(database, Connection, running)
    assert swept.logged_out >= 1
    assert not await _exists(database, Connection, again)
    async with database.unit_of_work() as uow:
        company = await uow.session.get(Company, again_salons[0])
        assert company is not None
        assert (company.integration_status, company.connection_id) == ("uninstalled", None)
        tokens = await uow.session.scalars(
            select(MarketplaceToken).where(MarketplaceToken.connection_id == abandoned)
        )
        assert list(tokens) == []
        assert swept.counters >= 0
        # Counters of windows that had ended when it swept are gone.
        leftover = await uow.session.scalars(
            select(RateLimitCounter).where(RateLimitCounter.expires_at < sweep_started)
        )
        assert list(leftover) == []
