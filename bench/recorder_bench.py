"""How fast webhook-ingest's recorder writes events into ``marketplace_events``: batched
(``BatchConsumer`` + ``record_batch``) beside one message per transaction (``Consumer`` with the
per-message handlers, the baseline), measured in the same run.

For each way in turn: N realistic entity events (a 1.4 KB record webhook, each with its own
``resource_id``, serialized as webhook-ingest serializes them) are published into a fresh queue
bound like the recorder's, then the consumer is started on its own and timed until it recorded
all of them. Prints events/s, the consumer's CPU seconds (this process) and the speed-up.

    .venv/bin/python -m bench.recorder_bench [--events 20000] [--baseline-prefetch 32]

Needs the local PostgreSQL and RabbitMQ (a private database and vhost are created, migrated and
dropped). The consumer runs on uvloop, as the services do.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import uvloop
from sqlalchemy import func, select, text
from webhook_ingest.events import entity_message
from webhook_ingest.parsing import EntityBody
from webhook_ingest.recorder import HANDLERS, record_batch

from bench.webhook_ingest_bench import record_body
from shared.bus import BatchConsumer, BatchHandler, Consumer, Handlers, Outbox, Publisher, connect
from shared.db import Database
from shared.models import MarketplaceEvent
from shared.runtime import BATCH_PREFETCH
from shared.topology import EVENT_RECORDER, EVENTS_EXCHANGE, QueueSpec, declare_queue
from testkit.environment import create_environment, drop_environment
from testkit.processes import eventually

PUBLISH_CHUNK = 500


def events(count: int, first_id: int) -> list[Any]:
    """``count`` distinct record webhooks as the intake publishes them."""
    template = record_body()
    received_at = datetime.now(UTC)
    messages = []
    for resource_id in range(first_id, first_id + count):
        document = {**template, "resource_id": resource_id}
        document["data"] = {**template["data"], "id": resource_id}
        # Through JSON, as the intake's documents come from a request body.
        document = orjson.loads(orjson.dumps(document))
        messages.append(entity_message(EntityBody(**document), document, received_at))
    return messages


async def recorded(database: Database) -> int:
    async with database.unit_of_work() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(MarketplaceEvent)))


async def measure(
    name: str,
    *,
    count: int,
    first_id: int,
    connection: Any,
    database: Database,
    publisher: Publisher,
    handlers: Handlers,
    batch_handler: BatchHandler | None,
    prefetch: int,
) -> dict[str, float]:
    spec = QueueSpec(f"bench.recorder.{name}.{uuid.uuid4().hex[:6]}", EVENT_RECORDER.bindings)
    channel = await connection.channel()
    queue = await declare_queue(channel, spec)
    messages = events(count, first_id)
    for start in range(0, count, PUBLISH_CHUNK):
        await publisher.publish_serialized(
            EVENTS_EXCHANGE, messages[start : start + PUBLISH_CHUNK], timeout=60
        )
    before = await recorded(database)
    common: dict[str, Any] = {
        "connection": connection,
        "spec": spec,
        "handlers": handlers,
        "database": database,
        "outbox": Outbox(database, publisher),
        "publisher": publisher,
        "prefetch": prefetch,
    }
    consumer = (
        Consumer(**common)
        if batch_handler is None
        else BatchConsumer(**common, batch_handler=batch_handler)
    )
    cpu, started = time.process_time(), time.perf_counter()
    await consumer.start()

    async def done() -> bool:
        return consumer.handled >= count

    await eventually(done, timeout=600, interval=0.01)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await consumer.stop()
    written = await recorded(database) - before
    if written != count:
        raise RuntimeError(f"{name}: {written} rows recorded for {count} events")
    await queue.delete(if_unused=False, if_empty=False)
    await channel.close()
    return {"events": count, "seconds": elapsed, "rate": count / elapsed, "cpu": cpu}


async def main(count: int, baseline_prefetch: int) -> None:
    env = await create_environment()  # a private database, migrated to head, and vhost
    database = Database(env.database_url, pool_size=2)
    connection = await connect(env.amqp_url)
    try:
        publisher = await Publisher.open(connection)
        # Warm-up of both paths (imports, statement caches, connections), not measured.
        common = {"connection": connection, "database": database, "publisher": publisher}
        await measure(
            "warmup-one",
            count=200,
            first_id=10**9,
            handlers=HANDLERS,
            batch_handler=None,
            prefetch=baseline_prefetch,
            **common,
        )
        await measure(
            "warmup-batch",
            count=2000,
            first_id=2 * 10**9,
            handlers=HANDLERS,
            batch_handler=record_batch,
            prefetch=BATCH_PREFETCH,
            **common,
        )
        async with database.unit_of_work() as uow:
            await uow.session.execute(text("TRUNCATE marketplace_events"))
            await uow.commit()
        baseline = await measure(
            "one-by-one",
            count=count,
            first_id=1,
            handlers=HANDLERS,
            batch_handler=None,
            prefetch=baseline_prefetch,
            **common,
        )
        batched = await measure(
            "batched",
            count=count,
            first_id=count + 1,
            handlers=HANDLERS,
            batch_handler=record_batch,
            prefetch=BATCH_PREFETCH,
            **common,
        )
        await publisher.close()
    finally:
        await connection.close()
        await database.dispose()
        await drop_environment(env)

    print(f"{count} entity events (record webhook, {len(orjson.dumps(record_body()))} bytes body)")
    print(f"{'':42}{'events/s':>10}{'seconds':>10}{'CPU s':>8}{'CPU µs/event':>14}")
    for name, result in (
        (f"one by one: Consumer, prefetch {baseline_prefetch}", baseline),
        (f"batched: BatchConsumer, prefetch {BATCH_PREFETCH}", batched),
    ):
        print(
            f"{name:42}{result['rate']:>10.0f}{result['seconds']:>10.2f}{result['cpu']:>8.2f}"
            f"{result['cpu'] / result['events'] * 1e6:>14.0f}"
        )
    print(f"speed-up batched / one by one: {batched['rate'] / baseline['rate']:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument(
        "--baseline-prefetch",
        type=int,
        default=32,
        help="the one-by-one consumer's prefetch (AMQP_PREFETCH, 32 by default)",
    )
    args = parser.parse_args()
    uvloop.run(main(args.events, args.baseline_prefetch))
