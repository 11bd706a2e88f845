"""The recorder: every YClients event into ``marketplace_events``, once per deduplication key.

The recorder's queue carries every webhook, so it runs on a ``BatchConsumer``: ``record_batch``
writes a whole batch with one executemany of ``INSERT .. ON CONFLICT (dedup_key) DO NOTHING``
(SQLAlchemy sends it as cached multi-row statements, within PostgreSQL's bind-parameter limit;
a ``values([...])`` statement built per batch is not cached and cost twice the CPU), which is
idempotent by itself (a redelivered or duplicate event inserts nothing). ``HANDLERS`` are the
per-message path the consumer falls back to when a batch fails. The message id recorded is the
one webhook-ingest derived from the deduplication key (``events.message_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from shared.bus import Handlers
from shared.db import UnitOfWork
from shared.messages import EntityReceived, Envelope, LifecycleReceived
from shared.models import MarketplaceEvent
from webhook_ingest.events import message_id

Row = dict[str, Any]


def lifecycle_row(event: LifecycleReceived) -> Row:
    return {
        "dedup_key": event.dedup_key,
        "kind": "lifecycle",
        "event_type": event.event,
        "salon_id": event.salon_id,
        "resource": None,
        "resource_id": None,
        "status": None,
        "payload": event.body,
        "message_id": message_id(event.dedup_key),
        "received_at": event.received_at,
    }


def entity_row(event: EntityReceived) -> Row:
    return {
        "dedup_key": event.dedup_key,
        "kind": "entity",
        "event_type": f"{event.resource}.{event.status}",
        "salon_id": event.company_id,
        "resource": event.resource,
        "resource_id": None if event.resource_id is None else str(event.resource_id),
        "status": event.status,
        "payload": event.body,
        "message_id": message_id(event.dedup_key),
        "received_at": event.received_at,
    }


def row_of(envelope: Envelope) -> Row:
    if envelope.type == LifecycleReceived.message_type:
        return lifecycle_row(envelope.parse(LifecycleReceived))
    return entity_row(envelope.parse(EntityReceived))


async def record_batch(envelopes: Sequence[Envelope], uow: UnitOfWork) -> None:
    """Record a batch of events; a payload that does not parse fails the whole batch."""
    await insert_rows(uow, [row_of(envelope) for envelope in envelopes])


async def record_lifecycle(event: LifecycleReceived, uow: UnitOfWork) -> None:
    await insert_rows(uow, [lifecycle_row(event)])


async def record_entity(event: EntityReceived, uow: UnitOfWork) -> None:
    await insert_rows(uow, [entity_row(event)])


INSERT_EVENT = insert(MarketplaceEvent).on_conflict_do_nothing(
    index_elements=[MarketplaceEvent.dedup_key]
)


async def insert_rows(uow: UnitOfWork, rows: Sequence[Row]) -> None:
    if rows:
        await uow.session.execute(INSERT_EVENT, list(rows))


HANDLERS: Handlers = {
    LifecycleReceived: record_lifecycle,
    EntityReceived: record_entity,
}
