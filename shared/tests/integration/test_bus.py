"""The bus against the real RabbitMQ and PostgreSQL: confirms, ack after commit, dedupe,
delayed retry and dead-lettering."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from sqlalchemy import func, select

from shared.bus import Consumer, Outbox, Publisher, connect
from shared.db import Database, UnitOfWork
from shared.messages import Envelope, SessionConnected, SessionQr
from shared.models import OutboxMessage, ProcessedMessage
from shared.topology import QueueSpec, events
from testkit.environment import TestEnvironment
from testkit.processes import eventually


@pytest.fixture
async def broker(test_env: TestEnvironment) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    connection = await connect(test_env.amqp_url)
    yield connection
    await connection.close()


def _spec(key: str) -> QueueSpec:
    return QueueSpec(
        f"test.{uuid.uuid4().hex[:8]}", events(key), retry_delays_ms=(100,), max_attempts=3
    )


async def test_handler_runs_once_per_message_id_even_when_redelivered(broker, database: Database):
    publisher = await Publisher.open(broker)
    outbox = Outbox(database, publisher)
    seen: list[str] = []

    async def handle(envelope: Envelope, uow: UnitOfWork) -> None:
        seen.append(envelope.id)

    spec = _spec("wa.session.connected")
    consumer = Consumer(
        connection=broker,
        spec=spec,
        handlers={"wa.session.connected": handle},
        database=database,
        outbox=outbox,
        publisher=publisher,
    )
    await consumer.start()
    envelope = Envelope.wrap(SessionConnected(session_id="s1", phone="79990001122"), "c1")
    for _ in range(3):  # the same message three times, as a broker redelivery would
        await publisher.publish_envelope(
            envelope, exchange="aiadmin.events", routing_key="wa.session.connected"
        )
    await eventually(lambda: _async(consumer.handled >= 3))
    await consumer.stop()
    assert seen == [envelope.id]
    async with database.unit_of_work() as uow:
        count = await uow.session.scalar(
            select(func.count()).where(ProcessedMessage.message_id == envelope.id)
        )
    assert count == 1


async def test_failing_handler_is_retried_then_dead_lettered(broker, database: Database):
    publisher = await Publisher.open(broker)
    attempts: list[int] = []

    async def handle(envelope: Envelope, uow: UnitOfWork) -> None:
        attempts.append(1)
        raise RuntimeError("downstream unavailable")

    spec = _spec("wa.session.qr")
    consumer = Consumer(
        connection=broker,
        spec=spec,
        handlers={"wa.session.qr": handle},
        database=database,
        outbox=Outbox(database, publisher),
        publisher=publisher,
    )
    await consumer.start()
    payload = SessionQr(session_id="s", qr="2@x", index=1, expires_at="2030-01-01T00:00:00Z")
    await publisher.send(payload, "c2")
    await eventually(lambda: _async(len(attempts) >= 3), timeout=15)
    channel = await broker.channel()
    dead = await channel.declare_queue(spec.dead_queue, passive=True)
    message = await eventually(lambda: dead.get(fail=False), timeout=10)
    assert message.headers["x-dead-reason"].startswith("RuntimeError")
    await message.ack()
    await consumer.stop()
    assert len(attempts) == 3


async def test_events_written_through_the_unit_of_work_are_published_after_commit(
    broker, database: Database
):
    publisher = await Publisher.open(broker)
    outbox = Outbox(database, publisher)
    channel = await broker.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind("aiadmin.events", "wa.session.connected")
    async with database.unit_of_work() as uow:
        sent = uow.publish(SessionConnected(session_id="s3", phone="7"), "c3")
        await uow.commit()
    await outbox.flush(uow)
    message = await eventually(lambda: queue.get(fail=False))
    assert Envelope.from_bytes(message.body).id == sent.id
    async with database.unit_of_work() as check:
        assert await check.session.get(OutboxMessage, sent.id) is None


async def test_a_rolled_back_unit_of_work_publishes_nothing(database: Database):
    async with database.unit_of_work() as uow:
        uow.publish(SessionConnected(session_id="s4", phone="7"), "c4")
    assert uow.outgoing == []


async def _async(value):
    return value


async def test_old_processed_message_ids_are_pruned(broker, database: Database):
    outbox = Outbox(database, await Publisher.open(broker))
    old, recent = f"old-{uuid.uuid4()}", f"recent-{uuid.uuid4()}"
    async with database.unit_of_work() as uow:
        uow.session.add_all(
            [
                ProcessedMessage(
                    consumer="t", message_id=old, processed_at=datetime.now(UTC) - timedelta(days=8)
                ),
                ProcessedMessage(consumer="t", message_id=recent),
            ]
        )
        await uow.commit()
    assert await outbox.prune_processed() >= 1
    async with database.unit_of_work() as uow:
        left = set(
            await uow.session.scalars(
                select(ProcessedMessage.message_id).where(
                    ProcessedMessage.message_id.in_([old, recent])
                )
            )
        )
    assert left == {recent}
