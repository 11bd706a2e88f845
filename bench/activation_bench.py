"""Latency of activation: from ``wa.session.connected`` to the install call reaching YClients
(the sandbox), and to ``activation.completed`` on the bus (what gateway relays to the browser as
its ``connected`` event).

Starts the YClients sandbox (with YClients' own limits: 5/s, 200/min per IP) and activation as a
real process on a private database and vhost, seeds N one-salon connections, publishes their
``wa.session.connected`` at a steady rate below YClients' limit, and prints p50/p90/p99/max.

    .venv/bin/python -m bench.activation_bench [--connections 200] [--rate 2.5]

Needs the local PostgreSQL and RabbitMQ (a private database and vhost are created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from datetime import UTC, datetime

import aio_pika
from yclients_sandbox.config import SalonConfig
from yclients_sandbox.testing import run_sandbox

from shared.bus import Publisher, connect
from shared.db import Database
from shared.messages import Envelope, SessionConnected
from shared.models import Company, Connection
from shared.topology import EVENTS_EXCHANGE
from testkit.environment import TEST_SECRETS, create_environment, drop_environment
from testkit.processes import free_port, python_module, wait_http_ok

FIRST_SALON = 880_000
INSTALL = "/marketplace/partner/callback"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(name: str, seconds: list[float]) -> None:
    ms = [value * 1000 for value in seconds]
    print(
        f"{name:<34} n={len(ms):<4} p50={percentile(ms, 0.5):7.1f} ms  "
        f"p90={percentile(ms, 0.9):7.1f} ms  p99={percentile(ms, 0.99):7.1f} ms  "
        f"max={max(ms):7.1f} ms  mean={statistics.fmean(ms):7.1f} ms"
    )


async def seed(database: Database, count: int) -> list[str]:
    ids = []
    async with database.unit_of_work() as uow:
        for _ in range(count):
            connection_id = uuid.uuid4()
            uow.session.add(Connection(id=connection_id, consented_at=datetime.now(UTC)))
            ids.append(str(connection_id))
        await uow.session.flush()
        for index, connection_id in enumerate(ids):
            uow.session.add(
                Company(
                    id=FIRST_SALON + index,
                    connection_id=uuid.UUID(connection_id),
                    salon_name=f"Салон {index}",
                )
            )
        await uow.commit()
    return ids


async def main(connections: int, rate: float) -> None:
    env = await create_environment()
    database = Database(env.database_url, pool_size=2)
    salons = tuple(SalonConfig(FIRST_SALON + i, f"Салон {i}") for i in range(connections))
    try:
        async with run_sandbox(
            partner_token=TEST_SECRETS["YCLIENTS_PARTNER_TOKEN"], port=free_port(), salons=salons
        ) as sandbox:
            await sandbox.control.consent([salon.id for salon in salons])
            connection_ids = await seed(database, connections)
            port = free_port()
            service = python_module(
                "activation-bench",
                "activation",
                env.env(
                    YCLIENTS_BASE_URL=sandbox.url,
                    HTTP_PORT=str(port),
                    PUBLIC_BASE_URL="https://bench.example",
                    LOG_LEVEL="WARNING",
                ),
            )
            try:
                await wait_http_ok(f"http://127.0.0.1:{port}/readyz", process=service)
                await measure(env.amqp_url, sandbox, connection_ids, rate)
            finally:
                service.stop()
    finally:
        await database.dispose()
        await drop_environment(env)


async def measure(amqp_url: str, sandbox, connection_ids: list[str], rate: float) -> None:  # type: ignore[no-untyped-def]
    broker = await connect(amqp_url)
    publisher = await Publisher.open(broker)
    completed_at: dict[str, float] = {}
    all_completed = asyncio.Event()
    channel = await broker.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(EVENTS_EXCHANGE, "activation.completed")

    async def on_completed(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            completed_at.setdefault(Envelope.from_bytes(message.body).correlation_id, time.time())
            if len(completed_at) >= len(connection_ids):
                all_completed.set()

    await queue.consume(on_completed)
    sent_at: dict[str, float] = {}
    started = time.monotonic()
    for index, connection_id in enumerate(connection_ids):
        # A steady arrival rate: latency, not the queue built by a burst, is what is measured.
        await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
        sent_at[connection_id] = time.time()
        await publisher.send(
            SessionConnected(session_id=connection_id, phone="79160000000"), connection_id
        )
    with contextlib.suppress(TimeoutError):  # what did not complete is reported below
        await asyncio.wait_for(all_completed.wait(), timeout=120)
    await broker.close()

    salon_of = {cid: FIRST_SALON + i for i, cid in enumerate(connection_ids)}
    installed_at: dict[int, float] = {}
    statuses: dict[int, int] = {}
    for call in await sandbox.control.calls(INSTALL):
        statuses[call["status"]] = statuses.get(call["status"], 0) + 1
        if call["status"] == 201:
            installed_at[int(call["body"]["salon_id"])] = datetime.fromisoformat(
                call["time"]
            ).timestamp()
    print(f"{len(connection_ids)} connections at {rate}/s; install answers: {statuses}")
    report(
        "connected -> install at YClients",
        [
            installed_at[salon_of[c]] - sent_at[c]
            for c in connection_ids
            if salon_of[c] in installed_at
        ],
    )
    report(
        "connected -> activation.completed",
        [completed_at[c] - sent_at[c] for c in connection_ids if c in completed_at],
    )
    missing = len(connection_ids) - len(completed_at)
    if missing:
        print(f"{missing} connections did not complete within the wait")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.5, help="connections per second")
    args = parser.parse_args()
    asyncio.run(main(args.connections, args.rate))
