"""A private PostgreSQL database and RabbitMQ vhost for one test run.

Names carry the process id, so a test run never touches what ``make run`` uses, and two runs
(or two developers' runs) can go side by side.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import asyncpg
from sqlalchemy import update

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_HOST = os.environ.get("TEST_PG_HOST", "postgres@127.0.0.1:5432")
AMQP_HOST = os.environ.get("TEST_AMQP_HOST", "guest:guest@127.0.0.1:5672")

# Secrets used only by tests: strong enough for the settings checks, never used anywhere else.
TEST_SECRETS = {
    "JWT_SECRET": "test-jwt-5c1f0e2a9b7d4c3e8f6a1b2c3d4e5f60718293a4",
    "YCLIENTS_PARTNER_TOKEN": "test-partner-0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e",
    "YCLIENTS_APP_ID": "45",
    "WA_STATE_KEYS": "k1:" + "qUv0Q6dXq3pC2mJd9n7kPz4R8wYt1eH5sB2cV6xN0aE=",
    "APP_ENV": "test",
    "LOG_FORMAT": "json",
}
# Every test onboards as the sandbox's one admin from one address: the gateway's shared limits
# per user and per address are lifted for the run; the tests of those limits set their own.
LIFTED_LIMITS = {
    "REDIRECTS_PER_USER": "1000000",
    "REDIRECTS_PER_ADDRESS": "1000000",
    "QR_REQUESTS_PER_USER": "1000000",
    "QR_REQUESTS_PER_ADDRESS": "1000000",
    "UNSCANNED_LOGINS_PER_USER": "1000000",
}


def rabbitmqctl(*args: str, attempts: int = 3) -> None:
    """Run rabbitmqctl; retried, since the CLI fails now and then when several run at once."""
    for attempt in range(1, attempts + 1):
        result = subprocess.run(
            ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60
        )
        if result.returncode == 0:
            return
        if attempt == attempts:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")
        time.sleep(attempt)


@dataclass
class TestEnvironment:
    __test__ = False  # not a test class, despite its name

    name: str
    database_url: str
    amqp_url: str
    extra: dict[str, str] = field(default_factory=dict)

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment for a service process of this test run."""
        return {
            **os.environ,
            **TEST_SECRETS,
            **LIFTED_LIMITS,
            "DATABASE_URL": self.database_url,
            "AMQP_URL": self.amqp_url,
            **self.extra,
            **overrides,
        }


async def create_environment() -> TestEnvironment:
    name = f"aiadmin_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    env = TestEnvironment(
        name=name,
        database_url=f"postgresql+asyncpg://{PG_HOST}/{name}",
        amqp_url=f"amqp://{AMQP_HOST}/{name}",
    )
    migration = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alembic",
        "upgrade",
        "head",
        cwd=ROOT,
        env=env.env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await migration.communicate()
    if migration.returncode != 0:
        raise RuntimeError(f"migrations failed:\n{output.decode()}")
    return env


async def drop_environment(env: TestEnvironment) -> None:
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{env.name}" WITH (FORCE)')
    finally:
        await admin.close()
    rabbitmqctl("delete_vhost", env.name)


async def forget_running_sessions(env: TestEnvironment) -> None:
    """The test database and vhost are shared by the whole run: no WhatsApp session another test
    left wanted, and no start command it left in the queue, may be picked up by this test's
    wa-session instances."""
    from shared.db import Database
    from shared.models import WaSession
    from shared.topology import WA_SESSION_COMMANDS, declare_queue

    database = Database(env.database_url, pool_size=1)
    try:
        async with database.unit_of_work() as uow:
            await uow.session.execute(
                update(WaSession).values(desired_running=False, pending_action=None)
            )
            await uow.commit()
    finally:
        await database.dispose()
    connection = await aio_pika.connect(env.amqp_url)
    async with connection:
        channel = await connection.channel()
        await (await declare_queue(channel, WA_SESSION_COMMANDS)).purge()
