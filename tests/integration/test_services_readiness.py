"""Every service answers ``/readyz`` 503 while RabbitMQ is down and 200 again within 10 s of it
accepting connections again, without a restart, and its consumers are back on their queues.

Run alone with ``.venv/bin/pytest -m broker_restart tests/integration``; the outage lasts a few
seconds, since every test run on this machine shares the broker.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import aio_pika
import aiohttp
import pytest
from yclients_sandbox.testing import RunningSandbox, run_sandbox

from shared.topology import ALL_QUEUES
from testkit.environment import TestEnvironment, rabbitmqctl
from testkit.processes import eventually
from testkit.system import (
    SERVICES,
    RunningSystem,
    WhatsAppEmulator,
    application_id,
    log_tail,
    partner_token,
    running_system,
    start_whatsapp_emulator,
)

RECOVERY_LIMIT = 10.0


@pytest.fixture(scope="module")
def emulator() -> Iterator[WhatsAppEmulator]:
    emulator = start_whatsapp_emulator(refs=2)
    yield emulator
    emulator.process.stop()


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with run_sandbox(
        partner_token=partner_token(), application_id=application_id(), port=0
    ) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
async def system(
    test_env: TestEnvironment, sandbox: RunningSandbox, emulator: WhatsAppEmulator
) -> AsyncIterator[RunningSystem]:
    async with running_system(test_env, sandbox.url, emulator) as system:
        yield system


async def readiness(system: RunningSystem) -> dict[str, int]:
    """Each service's /readyz status; 0 when it did not answer at all."""
    statuses = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
        for name in SERVICES:
            try:
                async with http.get(f"{system.urls[name]}/readyz") as response:
                    statuses[name] = response.status
            except (aiohttp.ClientError, TimeoutError):
                statuses[name] = 0
    return statuses


async def broker_accepts(amqp_url: str) -> bool:
    try:
        connection = await asyncio.wait_for(aio_pika.connect(amqp_url), timeout=2)
    except Exception:
        return False
    await connection.close()
    return True


def consumed_queues(vhost: str) -> set[str]:
    """Queues with at least one consumer right now (list_queues' counts lag by seconds)."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_consumers", "-p", vhost, "queue_name", "--no-table-headers"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {line.strip() for line in listed.stdout.splitlines() if line.strip()}


@pytest.mark.broker_restart
async def test_every_service_is_unready_while_the_broker_is_down_and_recovers_by_itself(
    system: RunningSystem, test_env: TestEnvironment
) -> None:
    assert set((await readiness(system)).values()) == {200}
    # The system's own queues (server-named exclusive ones get new names after a reconnect).
    ours = {spec.name for spec in ALL_QUEUES}
    consumed_before = consumed_queues(test_env.name) & ours
    assert consumed_before == ours
    pids = {name: system.processes[name].popen.pid for name in SERVICES}

    async def all_unready() -> bool:
        return set((await readiness(system)).values()) == {503}

    async def all_ready() -> bool:
        return set((await readiness(system)).values()) == {200}

    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        await eventually(all_unready, timeout=20, interval=0.2)
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")
    await eventually(lambda: broker_accepts(test_env.amqp_url), timeout=60, interval=0.2)
    back_at = time.monotonic()
    try:
        await eventually(all_ready, timeout=RECOVERY_LIMIT, interval=0.2)
    except TimeoutError:
        print(await readiness(system), log_tail(system))
        raise
    recovered_in = time.monotonic() - back_at
    print(f"every service ready {recovered_in:.1f} s after the broker accepted connections")

    # The same processes, not restarted ones, and each queue consumed again.
    assert {name: system.processes[name].popen.pid for name in SERVICES} == pids
    assert all(system.processes[name].popen.poll() is None for name in SERVICES)

    async def consumers_back() -> bool:
        return ours <= await asyncio.to_thread(consumed_queues, test_env.name)

    await eventually(consumers_back, timeout=RECOVERY_LIMIT, interval=0.5)
