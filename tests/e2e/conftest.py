"""The whole system for e2e tests: the YClients sandbox, the WhatsApp emulator, four services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from yclients_sandbox.config import SalonConfig
from yclients_sandbox.testing import RunningSandbox, run_sandbox

from testkit.environment import TestEnvironment
from testkit.system import (
    RunningSystem,
    WhatsAppEmulator,
    application_id,
    partner_token,
    running_system,
    start_whatsapp_emulator,
)

# Short QR lifetimes keep the rotation tests fast; the emulator must use the same schedule.
QR_TIMEOUT_MS = 3000


@pytest.fixture(scope="module")
def emulator() -> Iterator[WhatsAppEmulator]:
    emulator = start_whatsapp_emulator(refs=6, qr_timeout_ms=QR_TIMEOUT_MS)
    yield emulator
    emulator.process.stop()


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[RunningSandbox]:
    salons = tuple(SalonConfig(salon_id, f"Салон №{salon_id}") for salon_id in range(101, 300))
    async with run_sandbox(
        partner_token=partner_token(), application_id=application_id(), port=0, salons=salons
    ) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
async def system(
    test_env: TestEnvironment, sandbox: RunningSandbox, emulator: WhatsAppEmulator
) -> AsyncIterator[RunningSystem]:
    async with running_system(
        test_env, sandbox.url, emulator, qr_timeout_ms=QR_TIMEOUT_MS
    ) as system:
        yield system
