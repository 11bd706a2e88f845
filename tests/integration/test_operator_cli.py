"""``aiadmin-ops`` against the run's database and broker: listings, re-drive, forced logout."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime

import aio_pika

from shared.db import Database
from shared.messages import Envelope, LogoutSession, SessionConnected
from shared.models import Company, Connection, WaSession
from shared.topology import ALL_QUEUES, WA_SESSION_COMMANDS, QueueSpec, declare_queue, events
from testkit.environment import TestEnvironment
from testkit.processes import eventually


def ops(test_env: TestEnvironment, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "shared.ops", *args],
        env=test_env.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_lists_connections_and_sessions(
    test_env: TestEnvironment, database: Database
) -> None:
    connection_id = uuid.uuid4()
    salon_id = 900_000 + uuid.uuid4().int % 99_999
    async with database.unit_of_work() as uow:
        uow.session.add(Connection(id=connection_id, consented_at=datetime.now(UTC)))
        await uow.session.flush()
        uow.session.add(Company(id=salon_id, connection_id=connection_id))
        uow.session.add(WaSession(id=connection_id, state="connected", phone="79990001122"))
        await uow.commit()
    connections = ops(test_env, "connections")
    assert str(connection_id) in connections and str(salon_id) in connections
    sessions = ops(test_env, "sessions")
    assert str(connection_id) in sessions and "79990001122" in sessions


async def test_redrives_dead_letters_and_forces_a_logout(test_env: TestEnvironment) -> None:
    connection = await aio_pika.connect(test_env.amqp_url)
    async with connection:
        channel = await connection.channel()
        for spec in ALL_QUEUES:
            await declare_queue(channel, spec)
        # A queue of this test's own, so no other test's consumer can take the message first.
        spec = QueueSpec(f"test.redrive.{uuid.uuid4().hex[:8]}", events("test.nothing"))
        queue = await declare_queue(channel, spec)
        envelope = Envelope.wrap(SessionConnected(session_id="s", phone="7"), "c")
        await channel.default_exchange.publish(
            aio_pika.Message(body=envelope.to_bytes(), message_id=envelope.id),
            routing_key=spec.dead_queue,
        )
        dead = await channel.declare_queue(spec.dead_queue, passive=True)
        assert dead.declaration_result.message_count == 1
        assert "moved 1 message(s)" in ops(test_env, "redrive", spec.name)
        redriven = await eventually(lambda: queue.get(fail=False), timeout=10)
        assert Envelope.from_bytes(redriven.body).id == envelope.id
        listed = dict(line.split() for line in ops(test_env, "dead").splitlines()[1:])
        assert set(listed) == {s.dead_queue for s in ALL_QUEUES}

        commands = await channel.declare_queue(WA_SESSION_COMMANDS.name, passive=True)
        session_id = str(uuid.uuid4())
        assert "logout requested" in ops(test_env, "logout", session_id)

        async def logout_command() -> LogoutSession | None:
            message = await commands.get(fail=False)
            if message is None:
                return None
            await message.ack()
            command = Envelope.from_bytes(message.body)
            if command.type != LogoutSession.message_type:
                return None
            parsed = command.parse(LogoutSession)
            return parsed if parsed.session_id == session_id else None

        await eventually(logout_command, timeout=10)
