"""The bus against the real RabbitMQ and PostgreSQL: confirms, ack after commit, dedupe,
delayed retry and dead-lettering."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from shared.bus import BatchConsumer, Consumer, Outbox, Publisher, connect
from shared.db import Database, UnitOfWork
from shared.messages import Envelope, QrIssued, SessionConnected
from shared.models import OutboxMessage, ProcessedMessage
from shared.topology import QueueSpec, declare_queue, events
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
    seen: list[SessionConnected] = []

    async def handle(event: SessionConnected, uow: UnitOfWork) -> None:
        seen.append(event)

    spec = _spec("wa.session.connected")
    consumer = Consumer(
        connection=broker,
        spec=spec,
        handlers={SessionConnected: handle},
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
    assert seen == [SessionConnected(session_id="s1", phone="79990001122")]  # parsed, once
    async with database.unit_of_work() as uow:
        count = await uow.session.scalar(
            select(func.count()).where(ProcessedMessage.message_id == envelope.id)
        )
    assert count == 1


async def test_failing_handler_is_retried_then_dead_lettered(broker, database: Database):
    publisher = await Publisher.open(broker)
    attempts: list[int] = []

    async def handle(event: QrIssued, uow: UnitOfWork) -> None:
        attempts.append(1)
        raise RuntimeError("downstream unavailable")

    spec = _spec("wa.session.qr")
    consumer = Consumer(
        connection=broker,
        spec=spec,
        handlers={QrIssued: handle},
        database=database,
        outbox=Outbox(database, publisher),
        publisher=publisher,
    )
    await consumer.start()
    payload = QrIssued(session_id="s", qr="2@x", index=1, expires_at="2030-01-01T00:00:00Z")
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


# --- BatchConsumer ------------------------------------------------------------------------------


class _Sink:
    """An idempotent batch handler, as the recorder's: one row per session id, ON CONFLICT skip."""

    def __init__(self) -> None:
        self.name = f"sink-{uuid.uuid4().hex[:8]}"
        self.batches: list[int] = []

    async def record(self, envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
        rows = [
            {"consumer": self.name, "message_id": envelope.parse(SessionConnected).session_id}
            for envelope in envelopes
        ]
        await uow.session.execute(insert(ProcessedMessage).values(rows).on_conflict_do_nothing())
        self.batches.append(len(rows))

    async def record_one(self, event: SessionConnected, uow: UnitOfWork) -> None:
        await self.record([Envelope.wrap(event, "one-by-one")], uow)

    async def recorded(self, database: Database) -> list[str]:
        async with database.unit_of_work() as uow:
            return list(
                await uow.session.scalars(
                    select(ProcessedMessage.message_id).where(
                        ProcessedMessage.consumer == self.name
                    )
                )
            )


async def _batch_consumer(
    broker, database: Database, sink: _Sink, spec: QueueSpec | None = None, **options
) -> BatchConsumer:
    """A BatchConsumer on ``spec`` (a fresh queue by default), declared but not yet started."""
    publisher = await Publisher.open(broker)
    consumer = BatchConsumer(
        connection=broker,
        spec=spec or _spec("wa.session.connected"),
        handlers={SessionConnected: sink.record_one},
        batch_handler=sink.record,
        database=database,
        outbox=Outbox(database, publisher),
        publisher=publisher,
        **options,
    )
    channel = await broker.channel()
    await declare_queue(channel, consumer._spec)
    await channel.close()
    return consumer


def _connected(session_id: str) -> Envelope:
    return Envelope.wrap(SessionConnected(session_id=session_id, phone="79990001122"), "c-batch")


async def _publish(publisher: Publisher, envelopes: Sequence[Envelope]) -> None:
    for envelope in envelopes:
        await publisher.publish_envelope(
            envelope, exchange="aiadmin.events", routing_key="wa.session.connected"
        )


async def _ready(broker, queue: str) -> int:
    """Messages in the queue that nobody holds (unacked ones return when their channel closes)."""
    channel = await broker.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)
    finally:
        await channel.close()


async def test_batch_consumer_records_a_batch_once_and_acks_it(broker, database: Database):
    sink = _Sink()
    consumer = await _batch_consumer(broker, database, sink, max_batch=64)
    envelopes = [_connected(f"s-{i}") for i in range(200)]
    await _publish(consumer._publisher, envelopes)
    await consumer.start()
    await eventually(lambda: _async(consumer.handled >= 200))
    await consumer.stop()
    assert sorted(await sink.recorded(database)) == sorted(
        e.payload["session_id"] for e in envelopes
    )
    assert len(sink.batches) < 200 and max(sink.batches) == 64  # batched, at most max_batch
    assert await _ready(broker, consumer._spec.name) == 0  # all acked: none came back
    async with database.unit_of_work() as uow:  # the batch path claims no message ids
        claimed = await uow.session.scalar(
            select(func.count()).where(ProcessedMessage.consumer == consumer._spec.name)
        )
    assert claimed == 0


async def test_batch_consumer_duplicates_and_redeliveries_are_harmless(broker, database: Database):
    sink = _Sink()
    consumer = await _batch_consumer(broker, database, sink)
    envelopes = [_connected(f"d-{i}") for i in range(50)]
    await _publish(consumer._publisher, envelopes + envelopes[:10])  # duplicates in one batch
    # Ten messages taken and not acked by someone else: the broker redelivers them.
    channel = await broker.channel()
    queue = await channel.declare_queue(consumer._spec.name, passive=True)
    for _ in range(10):
        assert await queue.get(no_ack=False, fail=False) is not None
    await channel.close()
    await consumer.start()
    await eventually(lambda: _async(consumer.handled >= 60))
    await _publish(consumer._publisher, envelopes)  # the whole lot again, later
    await eventually(lambda: _async(consumer.handled >= 110))
    await consumer.stop()
    recorded = await sink.recorded(database)
    assert sorted(recorded) == sorted(e.payload["session_id"] for e in envelopes)
    assert await _ready(broker, consumer._spec.name) == 0


async def test_batch_consumer_dead_letters_a_poison_message_and_records_the_others(
    broker, database: Database
):
    sink = _Sink()
    consumer = await _batch_consumer(broker, database, sink)
    good = [_connected(f"p-{i}") for i in range(30)]
    # Valid envelope, payload the handler cannot parse: fails the batch and then itself.
    poison = Envelope(type="wa.session.connected", correlation_id="c-poison", payload={"x": 1})
    await _publish(consumer._publisher, [*good[:15], poison, *good[15:]])
    # Not an envelope at all: dead-lettered before the batch.
    await consumer._publisher.publish_message(
        "aiadmin.events", aio_pika.Message(body=b"not json"), "wa.session.connected"
    )
    await consumer.start()
    dead = await _collect_dead(broker, consumer._spec.dead_queue, 2)
    await eventually(lambda: _async(consumer.handled >= 30))
    await consumer.stop()
    assert sorted(await sink.recorded(database)) == sorted(e.payload["session_id"] for e in good)
    assert sorted(message.body for message in dead) == sorted([b"not json", poison.to_bytes()])
    assert all(message.headers["x-dead-reason"] for message in dead)
    assert await _ready(broker, consumer._spec.name) == 0


async def _collect_dead(broker, queue_name: str, count: int) -> list[AbstractIncomingMessage]:
    channel = await broker.channel()
    queue = await channel.declare_queue(queue_name, passive=True)
    found: list[AbstractIncomingMessage] = []

    async def more() -> bool:
        message = await queue.get(fail=False)
        if message is not None:
            await message.ack()
            found.append(message)
        return len(found) >= count

    await eventually(more, timeout=15)
    await channel.close()
    return found


async def test_batch_consumer_stop_finishes_the_batch_in_hand_and_loses_nothing(
    broker, database: Database
):
    sink = _Sink()
    started = asyncio.Event()
    record = sink.record

    async def slow(envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
        started.set()
        await asyncio.sleep(0.2)  # stop() arrives while this batch is being handled
        await record(envelopes, uow)

    sink.record = slow  # type: ignore[method-assign]
    consumer = await _batch_consumer(broker, database, sink, max_batch=50, prefetch=100)
    envelopes = [_connected(f"g-{i}") for i in range(500)]
    await _publish(consumer._publisher, envelopes)
    await consumer.start()
    await asyncio.wait_for(started.wait(), 10)
    await consumer.stop(grace=10)
    committed = len(await sink.recorded(database))
    # Every committed message was acked and nothing else was: together they are all of them.
    assert 0 < committed < 500
    assert await eventually(lambda: _ready_is(broker, consumer._spec.name, 500 - committed))
    # A fresh consumer takes the rest; each message is recorded exactly once.
    sink.record = record  # type: ignore[method-assign]
    after = await _batch_consumer(broker, database, sink, consumer._spec)
    await after.start()
    await eventually(lambda: _async(after.handled >= 500 - committed))
    await after.stop()
    recorded = await sink.recorded(database)
    assert sorted(recorded) == sorted(e.payload["session_id"] for e in envelopes)
    assert await _ready(broker, consumer._spec.name) == 0


async def _ready_is(broker, queue: str, expected: int) -> bool:
    return await _ready(broker, queue) == expected
