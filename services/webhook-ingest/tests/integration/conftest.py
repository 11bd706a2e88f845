"""webhook-ingest as a real process on the run's database and vhost, and a company to post for."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete

from shared.crypto import new_secret
from shared.db import Database
from shared.models import Company
from testkit.environment import TestEnvironment
from testkit.processes import Process, free_port, python_module, wait_http_ok


@dataclass
class Ingest:
    process: Process
    url: str
    spool_dir: Path

    def callback(self, secret: str | None = None) -> str:
        return f"{self.url}/callback/yclients" + (f"/{secret}" if secret else "")


@pytest.fixture(scope="session")
def ingest_spool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("webhook-ingest-spool")


@pytest.fixture(scope="session")
async def ingest(test_env: TestEnvironment, ingest_spool: Path) -> AsyncIterator[Ingest]:
    port = free_port()
    process = python_module(
        "webhook-ingest",
        "webhook_ingest",
        test_env.env(
            HTTP_PORT=str(port),
            WEBHOOK_SPOOL_DIR=str(ingest_spool),
            WEBHOOK_SECRET_CACHE_TTL_SECONDS="5",
            AMQP_PREFETCH="200",
            HTTP_BODY_TIMEOUT_SECONDS="2",
        ),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_http_ok(f"{url}/readyz", process=process)
        yield Ingest(process, url, ingest_spool)
    finally:
        process.stop()


@dataclass
class Salon:
    id: int
    secret: str


@pytest.fixture
async def salon(database: Database) -> AsyncIterator[Salon]:
    salon = Salon(secrets.randbelow(10**9) + 1, new_secret())
    async with database.unit_of_work() as uow:
        uow.session.add(
            Company(id=salon.id, webhook_secret=salon.secret, integration_status="active")
        )
        await uow.commit()
    yield salon
    async with database.unit_of_work() as uow:
        await uow.session.execute(delete(Company).where(Company.id == salon.id))
        await uow.commit()
