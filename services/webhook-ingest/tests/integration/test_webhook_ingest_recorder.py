"""The recorder's batch path against the real PostgreSQL: more rows than one statement may bind,
and a batch that repeats events, are recorded once each."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import func, select
from webhook_ingest.events import entity_message
from webhook_ingest.parsing import EntityBody
from webhook_ingest.recorder import record_batch

from shared.db import Database
from shared.messages import Envelope
from shared.models import MarketplaceEvent


def _entity(salon_id: int, resource_id: int) -> Envelope:
    document = {
        "company_id": salon_id,
        "resource": "record",
        "resource_id": resource_id,
        "status": "create",
        "data": {"id": resource_id, "comment": "x"},
    }
    message = entity_message(EntityBody(**document), document, datetime.now(UTC))
    return Envelope.from_bytes(message.body)


async def test_a_batch_larger_than_one_statement_is_recorded_once_each(database: Database):
    salon_id = 900_000_000 + secrets.randbelow(10**8)
    # PostgreSQL binds at most 32767 parameters a statement; a row has 10 columns.
    count = 32767 // 10 + 500
    envelopes = [_entity(salon_id, resource_id) for resource_id in range(count)]
    async with database.unit_of_work() as uow:
        await record_batch([*envelopes, *envelopes[:100]], uow)  # repeats within the batch
        await uow.commit()
    async with database.unit_of_work() as uow:  # and the same batch again, as a redelivery
        await record_batch(envelopes, uow)
        await uow.commit()
    async with database.unit_of_work() as uow:
        recorded = await uow.session.scalar(
            select(func.count(func.distinct(MarketplaceEvent.resource_id))).where(
                MarketplaceEvent.salon_id == salon_id
            )
        )
        rows = await uow.session.scalar(
            select(func.count()).where(MarketplaceEvent.salon_id == salon_id)
        )
    assert recorded == rows == count
