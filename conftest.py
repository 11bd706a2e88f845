"""Fixtures every test tier shares: a private database and vhost for the run."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.db import Database
from testkit.environment import TestEnvironment, create_environment, drop_environment


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
