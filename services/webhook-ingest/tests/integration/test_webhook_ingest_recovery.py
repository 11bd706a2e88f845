"""After a crash, what a dead process's spool slot holds is forwarded by a live instance and
recorded once, even the lines the crashed process may already have published."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from webhook_ingest.events import entity_message
from webhook_ingest.parsing import parse_entities
from webhook_ingest.spool import Spool

from shared.models import MarketplaceEvent
from testkit.processes import eventually, free_port, python_module, wait_http_ok


async def test_a_spool_left_by_a_crash_is_forwarded_at_start(
    test_env, salon, database, tmp_path: Path
) -> None:
    bodies = [
        {"company_id": salon.id, "resource": "client", "resource_id": n, "status": "update"}
        for n in range(50)
    ]
    messages = [entity_message(parse_entities(b)[0], b, datetime.now(UTC)) for b in bodies]
    # A slot other than the one the next process takes: a replica that is gone for good.
    left = tmp_path / "slot-3"
    spool = Spool(left)
    spool.open()
    await spool.append(messages[:30])
    await spool.seal()  # a sealed file the crashed forwarder had not finished
    await spool.append(messages[20:])  # overlapping: those lines were published twice
    spool.close()
    with (left / "current.jsonl").open("ab") as current:
        current.write(b'{"routing_key": "yclients.entity.cli')  # torn by the crash

    port = free_port()
    process = python_module(
        "webhook-ingest-recovery",
        "webhook_ingest",
        test_env.env(HTTP_PORT=str(port), WEBHOOK_SPOOL_DIR=str(tmp_path)),
    )
    try:
        await wait_http_ok(f"http://127.0.0.1:{port}/readyz", process=process)

        async def recorded() -> int:
            async with database.unit_of_work() as uow:
                count = await uow.session.scalar(
                    select(func.count()).where(MarketplaceEvent.salon_id == salon.id)
                )
            return int(count or 0) if count == len(bodies) else 0

        await eventually(recorded, timeout=30)
        await eventually(lambda: _spool_empty(left), timeout=10)
    finally:
        process.stop()


async def _spool_empty(directory: Path) -> bool:
    return await asyncio.to_thread(
        lambda: (
            not list(directory.glob("sealed-*"))
            and (directory / "current.jsonl").stat().st_size == 0
        )
    )
