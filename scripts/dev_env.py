"""The local development environment: the ``aiadmin`` database and RabbitMQ vhost.

``python -m scripts.dev_env check`` tells whether PostgreSQL and RabbitMQ answer (and how to
start the one that does not); ``migrate`` also creates the database and vhost if missing and
applies the migrations.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from urllib.parse import urlsplit

import aio_pika
import asyncpg

from testkit.environment import ROOT

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/aiadmin")
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/aiadmin")

START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_RABBITMQ = "rabbitmq-server -detached"


def _plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _admin_dsn(url: str) -> tuple[str, str]:
    parts = urlsplit(_plain_dsn(url))
    return parts._replace(path="/postgres").geturl(), parts.path.lstrip("/")


async def check() -> list[str]:
    """Problems found, each a sentence naming the URL and how to fix it."""
    problems = []
    admin_dsn, _ = _admin_dsn(DATABASE_URL)
    try:
        conn = await asyncio.wait_for(asyncpg.connect(admin_dsn), timeout=5)
        await conn.close()
    except Exception as exc:
        host = urlsplit(admin_dsn).netloc.split("@")[-1]
        problems.append(
            f"PostgreSQL is not reachable at {host} ({exc.__class__.__name__}). "
            f"Start it: {START_POSTGRES}"
        )
    amqp = urlsplit(AMQP_URL)
    try:
        connection = await asyncio.wait_for(
            aio_pika.connect(amqp._replace(path="/").geturl()), timeout=5
        )
        await connection.close()
    except Exception as exc:
        problems.append(
            f"RabbitMQ is not reachable at {amqp.netloc.split('@')[-1]} "
            f"({exc.__class__.__name__}). Start it: {START_RABBITMQ}"
        )
    return problems


async def ensure_database() -> None:
    admin_dsn, name = _admin_dsn(DATABASE_URL)
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def ensure_vhost() -> None:
    vhost = urlsplit(AMQP_URL).path.lstrip("/") or "/"
    if vhost == "/":
        return
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True, check=False
    )
    if vhost not in listed.stdout.split():
        user = urlsplit(AMQP_URL).username or "guest"
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
            check=True,
        )


def migrate() -> None:
    asyncio.run(ensure_database())
    ensure_vhost()
    env = {**os.environ, "DATABASE_URL": DATABASE_URL}
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True
    )


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    problems = asyncio.run(check())
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    if command == "migrate":
        migrate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
