"""The compose ``migrate`` step: wait until PostgreSQL accepts connections, then upgrade."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.db import Database
from shared.settings import CommonSettings, load_settings

ROOT = Path(__file__).resolve().parent.parent


async def wait_for_database(url: str, timeout: float) -> None:
    database = Database(url, pool_size=1)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                await database.ping()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"database not reachable after {timeout:.0f}s: {exc}"
                    ) from None
                print("waiting for the database...", file=sys.stderr)
                await asyncio.sleep(1)
    finally:
        await database.dispose()


def main() -> None:
    settings = load_settings(CommonSettings)
    asyncio.run(wait_for_database(settings.database_url, timeout=120))
    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")


if __name__ == "__main__":
    main()
