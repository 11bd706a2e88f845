"""The must-show: 10,000 webhooks while RabbitMQ is stopped and started in the middle. Every
event answered 2xx ends up in ``marketplace_events`` exactly once.

Run alone with ``.venv/bin/pytest -m broker_restart services/webhook-ingest``; the outage is kept
short (a few seconds) because every test run on this machine shares the broker.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest
from sqlalchemy import func, select

from shared.db import Database
from shared.models import MarketplaceEvent
from testkit.environment import rabbitmqctl
from testkit.processes import eventually, wait_http_ok

TOTAL = 10_000
CONCURRENCY = 64
STOP_AFTER = 2_500  # answered requests before the broker goes down
ANSWERED_WHILE_DOWN = 1_000  # answered requests before it comes back


@pytest.mark.broker_restart
async def test_every_2xx_is_recorded_once_across_a_broker_restart(ingest, salon, database) -> None:
    url = ingest.callback(salon.secret)
    statuses: dict[int, int] = {}
    stored: Counter[str] = Counter()
    answered = asyncio.Condition()
    slots = asyncio.Semaphore(CONCURRENCY)

    async def send(http: aiohttp.ClientSession, n: int) -> None:
        body = {
            "company_id": salon.id,
            "resource": "record",
            "resource_id": n,
            "status": "create",
            "data": {"id": n, "client": {"name": "Мария"}, "cost": 1500 + n},
        }
        async with slots:
            for _ in range(3):  # as YClients does: a network error is retried
                try:
                    async with http.post(url, json=body) as response:
                        statuses[n] = response.status
                        if response.status == 200:
                            stored[(await response.json())["stored"]] += 1
                        break
                except aiohttp.ClientError:
                    statuses[n] = -1
        async with answered:
            answered.notify_all()

    async def answered_count(at_least: int) -> None:
        async with answered:
            await asyncio.wait_for(answered.wait_for(lambda: len(statuses) >= at_least), 60)

    async def restart_broker() -> float:
        await answered_count(STOP_AFTER)
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        down_at = time.monotonic()
        try:
            await answered_count(len(statuses) + ANSWERED_WHILE_DOWN)
        finally:
            await asyncio.to_thread(rabbitmqctl, "start_app")
        return time.monotonic() - down_at

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:
        restart = asyncio.create_task(restart_broker())
        await asyncio.gather(*(send(http, n) for n in range(TOTAL)))
        outage = await restart

    accepted = {n for n, status in statuses.items() if status == 200}
    assert len(accepted) == TOTAL, Counter(statuses.values())
    assert stored["spooled"] >= ANSWERED_WHILE_DOWN, stored
    assert outage < 30
    print(f"broker down {outage:.1f} s; answers: {dict(stored)}")

    async def all_recorded() -> bool:
        return await _recorded_count(database, salon.id) >= len(accepted)

    await eventually(all_recorded, timeout=120, interval=1)
    async with database.unit_of_work() as uow:
        rows = await uow.session.execute(
            select(MarketplaceEvent.resource_id, func.count())
            .where(MarketplaceEvent.salon_id == salon.id)
            .group_by(MarketplaceEvent.resource_id)
        )
        per_resource = {resource_id: count for resource_id, count in rows}
    assert {int(resource_id) for resource_id in per_resource} == accepted
    assert set(per_resource.values()) == {1}
    await wait_http_ok(ingest.url + "/readyz", timeout=30)


async def _recorded_count(database: Database, salon_id: int) -> int:
    async with database.unit_of_work() as uow:
        return int(
            await uow.session.scalar(
                select(func.count()).where(MarketplaceEvent.salon_id == salon_id)
            )
            or 0
        )
