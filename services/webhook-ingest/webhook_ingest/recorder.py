"""The recorder: every YClients event into ``marketplace_events``, once per deduplication key.

The recorder's queue carries every webhook, so it runs on a ``BatchConsumer``: ``record_batch``
writes a whole batch with one executemany of ``INSERT .. ON CONFLICT (dedup_key) DO NOTHING``
(SQLAlchemy sends it as cached multi-row statements, within PostgreSQL's bind-parameter limit;
a ``values([...])`` statement built per batch is not cached and cost twice the CPU), which is
idempotent by itself (a redelivered or duplicate event inserts nothing). ``HANDLERS`` are the
per-message path the consumer falls back to when a batch fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from shared.bus import Handler
from shared.db import UnitOfWork
from shared.messages import EntityReceived, Envelope, LifecycleReceived
from shared.models import MarketplaceEvent

Row = dict[str, Any]


def lifecycle_row(envelope: Envelope) -> Row:
    event = envelope.parse(LifecycleReceived)
    return {
        "dedup_key": event.dedup_key,
        "kind": "lifecycle",
        "event_type": event.event,
        "salon_id": event.salon_id,
        "resource": None,
        "resource_id": None,
        "status": None,
        "payload": event.body,
        "message_id": envelope.id,
        "received_at": event.received_at,
    }


def entity_row(envelope: Envelope) -> Row:
    event = envelope.parse(EntityReceived)
    return {
        "dedup_key": event.dedup_key,
        "kind": "entity",
        "event_type": f"{event.resource}.{event.status}",
        "salon_id": event.company_id,
        "resource": event.resource,
        "resource_id": None if event.resource_id is None else str(event.resource_id),
        "status": event.status,
        "payload": event.body,
        "message_id": envelope.id,
        "received_at": event.received_at,
    }


ROWS: Mapping[str, Callable[[Envelope], Row]] = {
    LifecycleReceived.message_type: lifecycle_row,
    EntityReceived.message_type: entity_row,
}


async def record_batch(envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
    """Record a batch of events; a payload that does not parse fails the whole batch."""
    await insert_rows(uow, [ROWS[envelope.type](envelope) for envelope in envelopes])


async def record_lifecycle(envelope: Envelope, uow: UnitOfWork) -> None:
    await insert_rows(uow, [lifecycle_row(envelope)])


async def record_entity(envelope: Envelope, uow: UnitOfWork) -> None:
    await insert_rows(uow, [entity_row(envelope)])


INSERT_EVENT = insert(MarketplaceEvent).on_conflict_do_nothing(
    index_elements=[MarketplaceEvent.dedup_key]
)


async def insert_rows(uow: UnitOfWork, rows: Sequence[Row]) -> None:
    if rows:
        await uow.session.execute(INSERT_EVENT, list(rows))


HANDLERS: Mapping[str, Handler] = {
    LifecycleReceived.message_type: record_lifecycle,
    EntityReceived.message_type: record_entity,
}
