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
from urllib.parse import urlsplit

import aio_pika
import aiohttp
import pytest
from yclients_sandbox.config import SalonConfig
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
SALON = 930_101  # no other test uses it


@pytest.fixture(scope="module")
def emulator() -> Iterator[WhatsAppEmulator]:
    emulator = start_whatsapp_emulator(refs=2)
    yield emulator
    emulator.process.stop()


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with run_sandbox(
        partner_token=partner_token(),
        application_id=application_id(),
        port=0,
        salons=(SalonConfig(SALON, "Салон после сбоя брокера"),),
    ) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
async def system(
    test_env: TestEnvironment, sandbox: RunningSandbox, emulator: WhatsAppEmulator
) -> AsyncIterator[RunningSystem]:
    async with running_system(test_env, sandbox.url, emulator) as system:
        yield system


async def whatsapp_state_after_asking_for_a_qr(
    system: RunningSystem, sandbox: RunningSandbox
) -> str:
    """Gateway publishes a command, wa-session consumes it and shows a QR: the bus works."""
    query = urlsplit(await sandbox.control.consent([SALON])).query
    gateway = system.urls["gateway"]
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{gateway}/auth/yclients/redirect?{query}", allow_redirects=False
        ) as response:
            assert response.status == 302, await response.text()
            token = response.headers["Location"].split("#token=", 1)[1]
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post(f"{gateway}/marketplace/api/qr", headers=auth) as response:
            assert response.status == 202, await response.text()
            connection_id = (await response.json())["sessionId"]

        async def state() -> str | None:
            async with http.get(
                f"{gateway}/marketplace/api/status/{connection_id}", headers=auth
            ) as response:
                found = str((await response.json())["whatsapp"]["state"])
            return found if found == "waiting_for_scan" else None

        return str(await eventually(state, timeout=30))


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
    system: RunningSystem, test_env: TestEnvironment, sandbox: RunningSandbox
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
    assert await whatsapp_state_after_asking_for_a_qr(system, sandbox) == "waiting_for_scan"
