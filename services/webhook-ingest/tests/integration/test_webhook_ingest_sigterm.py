"""SIGTERM in the middle of a stream of webhooks: the stopping instance answers what it took
in, the next one takes over, and every event answered 2xx is recorded exactly once."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from shared.db import Database
from shared.models import MarketplaceEvent
from testkit.environment import TestEnvironment
from testkit.processes import Process, eventually, free_port, python_module, wait_http_ok

TOTAL = 2_000
CONCURRENCY = 32
TERMINATE_AFTER = 700


def _start(test_env: TestEnvironment, port: int, spool: Path) -> Process:
    return python_module(
        "webhook-ingest-sigterm",
        "webhook_ingest",
        test_env.env(HTTP_PORT=str(port), WEBHOOK_SPOOL_DIR=str(spool)),
    )


async def test_sigterm_mid_stream_loses_nothing_and_records_nothing_twice(
    test_env: TestEnvironment, salon, database: Database, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = _start(test_env, port, tmp_path)
    await wait_http_ok(f"{url}/readyz", process=first)
    statuses: dict[int, int] = {}
    slots = asyncio.Semaphore(CONCURRENCY)

    async def send(http: aiohttp.ClientSession, n: int) -> None:
        body = {
            "company_id": salon.id,
            "resource": "record",
            "resource_id": n,
            "status": "create",
            "data": {"id": n, "cost": 1500 + n},
        }
        async with slots:
            # A sender that retries until it gets an answer: while no instance listens (between
            # the old one stopping and the new one starting) the port refuses connections.
            for _ in range(200):
                try:
                    async with http.post(f"{url}/callback/yclients/{salon.secret}", json=body) as r:
                        statuses[n] = r.status
                        if r.status < 500:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    async def terminate_and_replace() -> tuple[int, Process]:
        await eventually(
            lambda: _ready(len(statuses) >= TERMINATE_AFTER), timeout=60, interval=0.01
        )
        first.signal(signal.SIGTERM)
        code = await asyncio.to_thread(first.popen.wait, 30)
        second = _start(test_env, port, tmp_path)
        await wait_http_ok(f"{url}/readyz", process=second)
        return code, second

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        replace = asyncio.create_task(terminate_and_replace())
        await asyncio.gather(*(send(http, n) for n in range(TOTAL)))
        exit_code, second = await replace
    try:
        assert exit_code == 0, first.logs()[-2000:]
        assert Counter(statuses.values()) == {200: TOTAL}

        async def per_resource() -> dict[str, int] | None:
            async with database.unit_of_work() as uow:
                rows = await uow.session.execute(
                    select(MarketplaceEvent.resource_id, func.count())
                    .where(MarketplaceEvent.salon_id == salon.id)
                    .group_by(MarketplaceEvent.resource_id)
                )
                counts = {resource_id: count for resource_id, count in rows}
            return counts if len(counts) >= TOTAL else None

        counts = await eventually(per_resource, timeout=120, interval=1)
        assert {int(resource_id) for resource_id in counts} == set(range(TOTAL))
        assert set(counts.values()) == {1}
    finally:
        second.stop()


async def _ready(value: bool) -> bool:
    return value
