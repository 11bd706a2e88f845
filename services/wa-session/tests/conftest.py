"""wa-session as a real process against the WhatsApp emulator, with the real bridge and Baileys;
its events read from the real RabbitMQ, its state from the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiohttp
import pytest
from sqlalchemy import func, select

from shared.bus import Publisher, connect
from shared.db import Database
from shared.messages import Envelope, Payload, StartSession
from shared.models import Connection, WaAuthKey, WaSession
from shared.topology import ALL_QUEUES, declare_queue
from testkit.environment import ROOT, TestEnvironment, forget_running_sessions
from testkit.processes import Process, eventually, free_port, wait_http_ok
from testkit.system import emulator_command

WA_DIR = ROOT / "services" / "wa-session"
NODE_PACKAGES = (WA_DIR / "bridge", ROOT / "emulators" / "whatsapp")


@pytest.fixture(scope="session")
def node_packages() -> None:
    """The bridge and the emulator need their locked dependencies (`npm ci` once)."""
    for folder in NODE_PACKAGES:
        if not (folder / "node_modules" / "baileys").exists():
            subprocess.run(["npm", "ci", "--ignore-scripts"], cwd=folder, check=True, timeout=600)


class Emulator:
    """The WhatsApp emulator's process and control API."""

    def __init__(self, process: Process, info: dict[str, Any]) -> None:
        self.process = process
        self.ws_url = str(info["wsUrl"])
        self.control_url = str(info["controlUrl"])
        self.root_key = str(info["rootPublicKey"])

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.control_url + path, json=body) as response,
        ):
            return response.status, await response.json()

    async def state(self) -> dict[str, Any]:
        _, body = await self.call("GET", "/state")
        return dict(body)

    async def scan_latest_qr(self, bus: Bus, session_id: str) -> dict[str, Any]:
        return await scan_latest_qr(bus, self, session_id)

    async def login(self, bus: Bus, session_id: str) -> str:
        """Start the session, scan its QR, wait until connected; the linked phone number."""
        await bus.send(StartSession(session_id=session_id), session_id)
        scanned = await self.scan_latest_qr(bus, session_id)
        await bus.wait_for(session_id, "wa.session.connected", timeout=30)
        return str(scanned["phone"])


@pytest.fixture
def start_emulator(node_packages: None) -> Iterator[Callable[..., Emulator]]:
    started: list[Process] = []

    def start(*args: str) -> Emulator:
        process = Process(
            "wa-emulator",
            emulator_command(*args),
            env={"PATH": os.environ["PATH"], "WA_EMULATOR_LOG_LEVEL": "warn"},
        )
        started.append(process)
        return Emulator(process, process.read_json_line())

    yield start
    for process in started:
        process.stop()


class WaService:
    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as http, http.get(self.url + "/metrics") as response:
            return await response.text()


@pytest.fixture
async def start_wa_session(
    test_env: TestEnvironment, database: Database
) -> AsyncIterator[Callable[..., Awaitable[WaService]]]:
    started: list[Process] = []
    await forget_running_sessions(test_env)

    async def start(emulator: Emulator, name: str = "wa-session", **env: str) -> WaService:
        port = free_port()
        process = Process(
            name,
            [sys.executable, "-m", "wa_session"],
            test_env.env(
                **{
                    "HTTP_PORT": str(port),
                    "INSTANCE_ID": f"{name}-{uuid.uuid4().hex[:6]}",
                    "WA_WEBSOCKET_URL": emulator.ws_url,
                    "WA_TRUST_EMULATOR_ROOT_KEY": emulator.root_key,
                    "WA_QR_TIMEOUT_MS": "3000",
                    "WA_LEASE_TTL_SECONDS": "6",
                    "WA_LEASE_POLL_SECONDS": "0.3",
                    **env,  # a test may override any of these
                }
            ),
        )
        started.append(process)
        await wait_http_ok(f"http://127.0.0.1:{port}/readyz", timeout=30, process=process)
        return WaService(process, port)

    yield start
    for process in started:
        process.stop()
    await forget_running_sessions(test_env)


class Bus:
    """Everything wa-session publishes (``wa.session.#``), and a way to send it commands."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.received: list[Envelope] = []

    async def send(self, payload: Payload, correlation_id: str) -> None:
        await self.publisher.send(payload, correlation_id)

    def of(self, session_id: str, message_type: str | None = None) -> list[Envelope]:
        return [
            e
            for e in self.received
            if e.correlation_id == session_id and (message_type is None or e.type == message_type)
        ]

    def states(self, session_id: str) -> list[str]:
        ordered = sorted(self.of(session_id, "wa.session.status"), key=lambda e: e.payload["seq"])
        return [e.payload["state"] for e in ordered]

    async def wait_for(
        self,
        session_id: str,
        message_type: str,
        match: Callable[[dict[str, Any]], bool] = lambda _: True,
        timeout: float = 30,
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            for envelope in self.of(session_id, message_type):
                if match(envelope.payload):
                    return envelope.payload
            return None

        return dict(await eventually(probe, timeout=timeout))

    async def wait_state(self, session_id: str, state: str, timeout: float = 30) -> dict[str, Any]:
        return await self.wait_for(
            session_id, "wa.session.status", lambda p: p["state"] == state, timeout
        )


@pytest.fixture(scope="session")
async def bus(test_env: TestEnvironment) -> AsyncIterator[Bus]:
    connection = await connect(test_env.amqp_url)
    channel = await connection.channel()
    for spec in ALL_QUEUES:
        await declare_queue(channel, spec)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind("aiadmin.events", routing_key="wa.session.#")
    publisher = await Publisher.open(connection)
    bus = Bus(publisher)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            bus.received.append(Envelope.from_bytes(message.body))

    await queue.consume(on_message)
    yield bus
    await publisher.close()
    await connection.close()


@pytest.fixture
async def new_session(database: Database) -> Callable[[], Awaitable[str]]:
    """A connection row (as the gateway creates it); its id is the session id."""

    async def create() -> str:
        connection_id = uuid.uuid4()
        async with database.unit_of_work() as uow:
            uow.session.add(Connection(id=connection_id, consented_at=datetime.now(UTC)))
            await uow.commit()
        return str(connection_id)

    return create


class SessionRows:
    """What the database holds for a session."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def row(self, session_id: str) -> WaSession | None:
        async with self.database.unit_of_work() as uow:
            row = await uow.session.get(WaSession, uuid.UUID(session_id))
            if row is not None:
                uow.session.expunge(row)  # readable after the transaction ends
            return row

    async def auth_rows(self, session_id: str) -> int:
        async with self.database.unit_of_work() as uow:
            count = await uow.session.scalar(
                select(func.count()).where(WaAuthKey.session_id == uuid.UUID(session_id))
            )
            return int(count or 0)


@pytest.fixture
def rows(database: Database) -> SessionRows:
    return SessionRows(database)


async def scan_latest_qr(bus: Bus, emulator: Emulator, session_id: str) -> dict[str, Any]:
    """The phone scans the QR the page shows now (the newest `wa.session.qr` event)."""

    async def attempt() -> dict[str, Any] | None:
        qrs = sorted(bus.of(session_id, "wa.session.qr"), key=lambda e: e.payload["index"])
        if not qrs:
            return None
        status, body = await emulator.call("POST", "/scan", {"qr": qrs[-1].payload["qr"]})
        return dict(body) if status == 200 else None

    return dict(await eventually(attempt, timeout=30, interval=0.3))
