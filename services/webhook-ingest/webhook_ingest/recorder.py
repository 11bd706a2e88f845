"""The recorder: every YClients event into ``marketplace_events``, once per deduplication key."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from shared.bus import Handler
from shared.db import UnitOfWork
from shared.messages import EntityReceived, Envelope, LifecycleReceived
from shared.models import MarketplaceEvent


async def record_lifecycle(envelope: Envelope, uow: UnitOfWork) -> None:
    event = envelope.parse(LifecycleReceived)
    await _insert(
        uow,
        dedup_key=event.dedup_key,
        kind="lifecycle",
        event_type=event.event,
        salon_id=event.salon_id,
        payload=event.body,
        message_id=envelope.id,
        received_at=event.received_at,
    )


async def record_entity(envelope: Envelope, uow: UnitOfWork) -> None:
    event = envelope.parse(EntityReceived)
    await _insert(
        uow,
        dedup_key=event.dedup_key,
        kind="entity",
        event_type=f"{event.resource}.{event.status}",
        salon_id=event.company_id,
        resource=event.resource,
        resource_id=None if event.resource_id is None else str(event.resource_id),
        status=event.status,
        payload=event.body,
        message_id=envelope.id,
        received_at=event.received_at,
    )


async def _insert(uow: UnitOfWork, *, received_at: datetime, **values: Any) -> None:
    await uow.session.execute(
        insert(MarketplaceEvent)
        .values(received_at=received_at, **values)
        .on_conflict_do_nothing(index_elements=[MarketplaceEvent.dedup_key])
    )


HANDLERS: Mapping[str, Handler] = {
    LifecycleReceived.message_type: record_lifecycle,
    EntityReceived.message_type: record_entity,
}
