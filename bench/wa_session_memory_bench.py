"""Memory and CPU of one wa-session instance (Python and its Node bridge together) holding
1, 100 and 500 connected WhatsApp sessions on the emulator, as MB per session.

Starts the WhatsApp emulator and wa-session as real processes on a private database and vhost,
logs sessions in by QR in batches (start command, the QR from the bus, the emulator's phone
scans it), and at each level holds for a while and reads /proc of both processes.

    .venv/bin/python -m bench.wa_session_memory_bench [--levels 1,100,500] [--hold 20]

Needs the local PostgreSQL and RabbitMQ, and `npm ci` done in services/wa-session/bridge and
emulators/whatsapp.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import aiohttp

from shared.bus import Publisher, connect
from shared.db import Database
from shared.messages import Envelope, StartSession
from shared.models import Connection
from shared.topology import ALL_QUEUES, EVENTS_EXCHANGE, declare_queue
from testkit.environment import create_environment, drop_environment
from testkit.processes import Process, free_port, python_module, wait_http_ok
from testkit.system import emulator_command

BATCH = 20
# Long enough that a QR never rotates between the event and the scan.
QR_TIMEOUT_MS = "60000"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Usage:
    rss_mb: float
    cpu_seconds: float


def usage(pid: int) -> Usage:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / TICKS
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return Usage(rss_kb / 1024, cpu)


def bridge_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])


class Watcher:
    """QR strings and connections as wa-session publishes them."""

    def __init__(self) -> None:
        self.qr: dict[str, str] = {}
        self.connected: set[str] = set()

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            envelope = Envelope.from_bytes(message.body)
            if envelope.type == "wa.session.qr":
                self.qr[envelope.correlation_id] = envelope.payload["qr"]
            elif envelope.type == "wa.session.connected":
                self.connected.add(envelope.correlation_id)


async def wait_until(probe, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("the sessions did not get there in time")
        await asyncio.sleep(0.1)


async def log_in(
    ids: list[str],
    publisher: Publisher,
    watcher: Watcher,
    http: aiohttp.ClientSession,
    control: str,
) -> None:
    for session_id in ids:
        await publisher.send(StartSession(session_id=session_id), session_id)
    await wait_until(lambda: all(s in watcher.qr for s in ids), 120)
    for session_id in ids:
        async with http.post(f"{control}/scan", json={"qr": watcher.qr[session_id]}) as response:
            if response.status != 200:
                raise RuntimeError(f"scan refused: {await response.text()}")
    await wait_until(lambda: all(s in watcher.connected for s in ids), 120)


async def seed(database: Database, count: int) -> list[str]:
    ids = [uuid.uuid4() for _ in range(count)]
    async with database.unit_of_work() as uow:
        for connection_id in ids:
            uow.session.add(Connection(id=connection_id, consented_at=datetime.now(UTC)))
        await uow.commit()
    return [str(i) for i in ids]


async def main(levels: list[int], hold: float) -> None:
    env = await create_environment()
    database = Database(env.database_url, pool_size=2)
    emulator = Process(
        "wa-emulator-bench",
        emulator_command("--qr-timeout-ms", QR_TIMEOUT_MS),
        env={"PATH": os.environ["PATH"], "WA_EMULATOR_LOG_LEVEL": "warn"},
    )
    service: Process | None = None
    broker = await connect(env.amqp_url)
    try:
        ready = emulator.read_json_line()
        channel = await broker.channel()
        for spec in ALL_QUEUES:
            await declare_queue(channel, spec)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(EVENTS_EXCHANGE, routing_key="wa.session.#")
        watcher = Watcher()
        await queue.consume(watcher.on_message)
        publisher = await Publisher.open(broker)

        port = free_port()
        service = python_module(
            "wa-session-bench",
            "wa_session",
            env.env(
                HTTP_PORT=str(port),
                LOG_LEVEL="WARNING",
                WA_WEBSOCKET_URL=str(ready["wsUrl"]),
                WA_TRUST_EMULATOR_ROOT_KEY=str(ready["rootPublicKey"]),
                WA_QR_TIMEOUT_MS=QR_TIMEOUT_MS,
                WA_MAX_SESSIONS=str(max(levels)),
            ),
        )
        await wait_http_ok(f"http://127.0.0.1:{port}/readyz", process=service)
        python_pid = service.popen.pid
        node_pid = bridge_pid(python_pid)

        def both() -> tuple[Usage, Usage]:
            return usage(python_pid), usage(node_pid)

        idle_py, idle_node = both()
        idle_total = idle_py.rss_mb + idle_node.rss_mb
        print(
            f"idle: python {idle_py.rss_mb:.0f} MB + bridge {idle_node.rss_mb:.0f} MB"
            f" = {idle_total:.0f} MB"
        )
        print(
            "sessions | login s | login CPU s | hold CPU %  | python MB | bridge MB | total MB"
            " | MB/session (total) | MB/session (above idle)"
        )
        done = 0
        async with aiohttp.ClientSession() as http:
            for level in levels:
                ids = await seed(database, level - done)
                started = time.monotonic()
                cpu_before = sum(u.cpu_seconds for u in both())
                for first in range(0, len(ids), BATCH):
                    await log_in(
                        ids[first : first + BATCH], publisher, watcher, http, ready["controlUrl"]
                    )
                login_seconds = time.monotonic() - started
                login_cpu = sum(u.cpu_seconds for u in both()) - cpu_before
                done = level
                hold_start = sum(u.cpu_seconds for u in both())
                await asyncio.sleep(hold)  # the measurement window: sessions idle with keep-alives
                py, node = both()
                hold_cpu = (py.cpu_seconds + node.cpu_seconds - hold_start) / hold * 100
                total = py.rss_mb + node.rss_mb
                print(
                    f"{level:8d} | {login_seconds:7.1f} | {login_cpu:11.1f} | {hold_cpu:10.1f}"
                    f" | {py.rss_mb:9.0f} | {node.rss_mb:9.0f} | {total:8.0f}"
                    f" | {total / level:18.2f} | {(total - idle_total) / level:23.2f}"
                )
            async with http.get(f"{ready['controlUrl']}/state") as response:
                state = await response.json()
            print("max live sockets per login:", max(state["maxLiveSocketsPerLogin"].values()))
    finally:
        if service is not None:
            service.stop()
        emulator.stop()
        await broker.close()
        await database.dispose()
        await drop_environment(env)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,100,500")
    parser.add_argument("--hold", type=float, default=20.0)
    arguments = parser.parse_args()
    asyncio.run(main([int(n) for n in arguments.levels.split(",")], arguments.hold))
