"""Fixtures every test tier shares (a private database and vhost for the run), and each test's
tier by the folder it lives in: ``unit/`` (no I/O), ``integration/`` (real PostgreSQL,
RabbitMQ, processes), ``e2e/`` (the whole system with the emulators, browser included). The
emulators' own suites count as integration. ``make test-unit`` runs ``-m unit``, and so on."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.db import Database
from testkit.environment import TestEnvironment, create_environment, drop_environment

TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        tier = next((tier for tier in TIERS if tier in parts), "integration")
        item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
async def test_env() -> AsyncIterator[TestEnvironment]:
    env = await create_environment()
    yield env
    await drop_environment(env)


@pytest.fixture(scope="session")
async def database(test_env: TestEnvironment) -> AsyncIterator[Database]:
    db = Database(test_env.database_url, pool_size=5)
    yield db
    await db.dispose()
