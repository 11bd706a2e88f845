"""Activation as a real process against the YClients sandbox, the test database and broker."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from sqlalchemy import select
from yclients_sandbox.config import SalonConfig
from yclients_sandbox.testing import RunningSandbox, run_sandbox

from shared.bus import Publisher, connect
from shared.db import Database
from shared.messages import Envelope, Payload
from shared.models import ActivationAttempt, Company, Connection
from shared.topology import COMMANDS_EXCHANGE, EVENTS_EXCHANGE
from testkit.environment import TEST_SECRETS, TestEnvironment
from testkit.processes import Process, eventually, free_port, python_module, wait_http_ok

PUBLIC_BASE_URL = "https://hooks.test.example"
INSTALL = "/marketplace/partner/callback"


class SalonIds:
    """Fresh salon ids for each test: the database lives for the whole run."""

    def __init__(self) -> None:
        self.base = random.randrange(1_000_000, 9_000_000, 1000)
        self._next = itertools.count(self.base)

    def take(self, count: int) -> list[int]:
        return [next(self._next) for _ in range(count)]

    def sandbox_salons(self, count: int = 200) -> tuple[SalonConfig, ...]:
        return tuple(SalonConfig(self.base + i, f"Салон {i}") for i in range(count))


@pytest.fixture(scope="module")
def salon_ids() -> SalonIds:
    return SalonIds()


@pytest.fixture(scope="module")
async def sandbox(salon_ids: SalonIds) -> AsyncIterator[RunningSandbox]:
    async with run_sandbox(
        partner_token=TEST_SECRETS["YCLIENTS_PARTNER_TOKEN"],
        application_id=int(TEST_SECRETS["YCLIENTS_APP_ID"]),
        port=free_port(),
        salons=salon_ids.sandbox_salons(),
        # Lifecycle webhooks go nowhere in these tests (we publish what webhook-ingest would).
        callback_url=f"http://127.0.0.1:{free_port()}/callback/yclients",
        webhook_retries=0,
    ) as running:
        yield running


@pytest.fixture(autouse=True)
async def fresh_sandbox(sandbox: RunningSandbox) -> None:
    await sandbox.control.reset()


def start_activation(test_env: TestEnvironment, sandbox: RunningSandbox, port: int) -> Process:
    return python_module(
        "activation",
        "activation",
        test_env.env(
            YCLIENTS_BASE_URL=sandbox.url,
            HTTP_PORT=str(port),
            PUBLIC_BASE_URL=PUBLIC_BASE_URL,
            YCLIENTS_RATE_LIMIT_PER_SECOND="4",
            LOG_LEVEL="INFO",
        ),
    )


@dataclass
class ActivationService:
    test_env: TestEnvironment
    sandbox: RunningSandbox
    port: int = field(default_factory=free_port)
    process: Process | None = None

    async def start(self) -> None:
        self.process = start_activation(self.test_env, self.sandbox, self.port)
        await wait_http_ok(f"http://127.0.0.1:{self.port}/readyz", process=self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture(scope="module")
async def activation(
    test_env: TestEnvironment, sandbox: RunningSandbox
) -> AsyncIterator[ActivationService]:
    service = ActivationService(test_env, sandbox)
    await service.start()
    yield service
    service.stop()


@pytest.fixture
async def start_activation_process(
    test_env: TestEnvironment, sandbox: RunningSandbox
) -> AsyncIterator[Callable[[], Awaitable[ActivationService]]]:
    """Start activation processes of one's own (to kill them); all are stopped afterwards."""
    started: list[ActivationService] = []

    async def start() -> ActivationService:
        service = ActivationService(test_env, sandbox)
        started.append(service)
        await service.start()
        return service

    yield start
    for service in started:
        service.stop()


class Bus:
    """Publishes what other services would, and records what activation publishes."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.received: list[Envelope] = []

    async def send(self, payload: Payload, correlation_id: str) -> Envelope:
        return await self.publisher.send(payload, correlation_id)

    def of(self, correlation_id: str, type_: str | None = None) -> list[Envelope]:
        return [
            envelope
            for envelope in self.received
            if envelope.correlation_id == correlation_id and type_ in (None, envelope.type)
        ]

    async def wait_for(self, correlation_id: str, type_: str, timeout: float = 20.0) -> Envelope:
        async def probe() -> Envelope | None:
            found = self.of(correlation_id, type_)
            return found[-1] if found else None

        return await eventually(probe, timeout=timeout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
async def bus(test_env: TestEnvironment) -> AsyncIterator[Bus]:
    connection = await connect(test_env.amqp_url)
    publisher = await Publisher.open(connection)
    bus = Bus(publisher)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(EVENTS_EXCHANGE, "activation.#")
    await queue.bind(COMMANDS_EXCHANGE, "wa.session.logout")

    async def record(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            bus.received.append(Envelope.from_bytes(message.body))

    await queue.consume(record)
    yield bus
    await connection.close()


@dataclass
class World:
    """The test's view of everything: seed our tables, read them back, ask the sandbox."""

    database: Database
    sandbox: RunningSandbox
    bus: Bus
    salon_ids: SalonIds

    async def seed_connection(
        self, salon_ids: list[int], consented_ago: timedelta = timedelta(minutes=1)
    ) -> str:
        """What gateway writes on the redirect: a pending connection and its salons."""
        connection_id = uuid.uuid4()
        async with self.database.unit_of_work() as uow:
            uow.session.add(
                Connection(id=connection_id, consented_at=datetime.now(UTC) - consented_ago)
            )
            await uow.session.flush()
            for salon_id in salon_ids:
                company = await uow.session.get(Company, salon_id)
                if company is None:
                    company = Company(id=salon_id, salon_name=f"Салон {salon_id}")
                    uow.session.add(company)
                company.connection_id = connection_id
                company.integration_status = "pending"
            await uow.commit()
        return str(connection_id)

    async def companies(self, salon_ids: list[int]) -> list[Company]:
        async with self.database.unit_of_work() as uow:
            rows = list(
                await uow.session.scalars(
                    select(Company).where(Company.id.in_(salon_ids)).order_by(Company.id)
                )
            )
            await uow.commit()  # committed objects stay readable (rolled back ones expire)
        return rows

    async def attempts(self, salon_ids: list[int]) -> list[ActivationAttempt]:
        async with self.database.unit_of_work() as uow:
            rows = list(
                await uow.session.scalars(
                    select(ActivationAttempt)
                    .where(ActivationAttempt.company_id.in_(salon_ids))
                    .order_by(ActivationAttempt.id)
                )
            )
            await uow.commit()
        return rows

    async def successful_installs(self) -> dict[int, int]:
        """How many install calls the sandbox answered 201, per salon."""
        counts: dict[int, int] = {}
        for call in await self.sandbox.control.calls(INSTALL):
            if call["status"] == 201:
                salon_id = int(call["body"]["salon_id"])
                counts[salon_id] = counts.get(salon_id, 0) + 1
        return counts


@pytest.fixture(scope="module")
def world(database: Database, sandbox: RunningSandbox, bus: Bus, salon_ids: SalonIds) -> World:
    return World(database, sandbox, bus, salon_ids)
