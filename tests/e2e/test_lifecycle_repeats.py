"""The same lifecycle event again, past YClients' retry horizon, acts again: install, uninstall,
reinstall, uninstall — the second uninstall (a body identical to the first) logs the salon's
WhatsApp out too. Through webhook-ingest and activation as YClients drives them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from shared.db import Database
from shared.models import Company, MarketplaceEvent, WaSession
from testkit.environment import TestEnvironment
from testkit.onboarding import onboard
from testkit.processes import eventually
from testkit.system import RunningSystem, WhatsAppEmulator, running_system

DEDUP_SECONDS = 2
SALON = 261


@pytest.fixture(scope="module")
async def short_horizon(
    test_env: TestEnvironment,
    sandbox,  # type: ignore[no-untyped-def]
    emulator: WhatsAppEmulator,
) -> AsyncIterator[RunningSystem]:
    async with running_system(
        test_env,
        sandbox.url,
        emulator,
        qr_timeout_ms=3000,
        WEBHOOK_DEDUP_SECONDS=str(DEDUP_SECONDS),
    ) as system:
        yield system


async def test_an_uninstall_after_a_reinstall_logs_whatsapp_out_again(
    short_horizon: RunningSystem,
    sandbox,  # type: ignore[no-untyped-def]
    emulator: WhatsAppEmulator,
    database: Database,
) -> None:
    async def uninstalled_and_logged_out(connection_id: str) -> bool:
        async with database.unit_of_work() as uow:
            company = await uow.session.get(Company, SALON)
            session = await uow.session.get(WaSession, uuid.UUID(connection_id))
            return (
                company is not None
                and company.integration_status == "uninstalled"
                and session is not None
                and session.state == "logged_out"
            )

    first = await onboard(short_horizon, sandbox, emulator, [SALON])
    delivered = await sandbox.control.send_lifecycle(SALON, "uninstall")
    assert delivered["outcome"] == "delivered"
    await eventually(lambda: uninstalled_and_logged_out(first.connection_id), timeout=30)

    second = await onboard(short_horizon, sandbox, emulator, [SALON], phone=first.phone)
    await asyncio.sleep(DEDUP_SECONDS + 0.5)  # past the retry horizon, as any real reinstall is
    delivered = await sandbox.control.send_lifecycle(SALON, "uninstall")
    assert delivered["outcome"] == "delivered"
    await eventually(lambda: uninstalled_and_logged_out(second.connection_id), timeout=30)

    async def both_uninstalls_recorded() -> bool:
        async with database.unit_of_work() as uow:
            events = list(
                await uow.session.scalars(
                    select(MarketplaceEvent.dedup_key).where(
                        MarketplaceEvent.salon_id == SALON,
                        MarketplaceEvent.event_type == "uninstall",
                    )
                )
            )
        return len(events) == 2

    await eventually(both_uninstalls_recorded, timeout=10)
