"""The onboarding state in the database: opening a pending connection from a redirect, and
reading where a connection is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.redirect_params import MarketplaceUser
from shared.models import Company, Connection, IntegrationStatus, WaSession

# A redirect can be forged or replayed (it signs the user, not the salons): it never touches a
# salon that is installed or being installed.
UNTOUCHABLE = (IntegrationStatus.ACTIVE, IntegrationStatus.ACTIVATING, IntegrationStatus.FROZEN)


@dataclass(frozen=True)
class Salon:
    id: int
    name: str | None
    status: str


@dataclass(frozen=True)
class Opened:
    """The outcome of a redirect: a new pending connection (None if every salon was already
    connected, and then nothing must be committed) and the salons that were left as they are."""

    connection_id: uuid.UUID | None
    claimed: list[int]
    untouched: list[Salon] = field(default_factory=list)


async def open_connection(
    session: AsyncSession, salon_ids: list[int], user: MarketplaceUser | None
) -> Opened:
    connection_id = uuid.uuid4()
    session.add(Connection(id=connection_id, status="pending", consented_at=datetime.now(UTC)))
    await session.flush()
    values: dict[str, Any] = {
        "connection_id": connection_id,
        "integration_status": IntegrationStatus.PENDING,
    }
    if user is not None:
        values |= {
            "marketplace_user_id": user.id,
            "marketplace_user_name": user.name,
            "marketplace_user_phone": user.phone,
            "marketplace_user_email": user.email,
            "marketplace_user_approved": user.is_approved,
        }
        # One salon name for several salons would be wrong for all but one.
        if user.salon_name and len(salon_ids) == 1:
            values["salon_name"] = user.salon_name
    statement = insert(Company).values([{"id": salon_id, **values} for salon_id in salon_ids])
    # The guard is in the statement itself, so two racing redirects cannot both pass a check.
    upsert = statement.on_conflict_do_update(
        index_elements=[Company.id],
        set_={
            **{name: statement.excluded[name] for name in values},
            "activation_error": None,
            "updated_at": func.now(),
        },
        where=Company.integration_status.not_in(UNTOUCHABLE),
    ).returning(Company.id)
    claimed = set((await session.execute(upsert)).scalars())
    untouched = [
        salon for salon in await salons_by_id(session, salon_ids) if salon.id not in claimed
    ]
    if not claimed:
        # The caller rolls back: no connection is left behind.
        return Opened(None, [], untouched)
    return Opened(connection_id, [s for s in salon_ids if s in claimed], untouched)


async def salons_by_id(session: AsyncSession, salon_ids: list[int]) -> list[Salon]:
    rows = await session.execute(
        select(Company.id, Company.salon_name, Company.integration_status)
        .where(Company.id.in_(salon_ids))
        .order_by(Company.id)
    )
    return [Salon(row.id, row.salon_name, row.integration_status) for row in rows]


@dataclass(frozen=True)
class Snapshot:
    """Where one connection is, as the page needs it."""

    connection_id: uuid.UUID
    connection_status: str
    whatsapp_state: str
    whatsapp_reason: str | None
    salons: list[Salon]
    activation_error: str | None

    @property
    def stage(self) -> str:
        """The step the page shows: waiting, qr, linked, activating, done, failed, superseded."""
        statuses = {salon.status for salon in self.salons}
        if not self.salons:
            return "superseded"
        if statuses == {IntegrationStatus.ACTIVE}:
            return "done"
        if IntegrationStatus.ACTIVATION_FAILED in statuses:
            return "failed"
        if IntegrationStatus.ACTIVATING in statuses:
            return "activating"
        if self.whatsapp_state in ("paired", "restarting", "connected"):
            return "linked"
        if self.whatsapp_state == "waiting_for_scan":
            return "qr"
        return "waiting"

    def to_json(self) -> dict[str, Any]:
        return {
            "sessionId": str(self.connection_id),
            "stage": self.stage,
            "connectionStatus": self.connection_status,
            "whatsapp": {"state": self.whatsapp_state, "reason": self.whatsapp_reason},
            "salons": [
                {"id": salon.id, "name": salon.name, "status": salon.status}
                for salon in self.salons
            ],
            "activationError": self.activation_error,
        }


async def snapshot(session: AsyncSession, connection_id: uuid.UUID) -> Snapshot | None:
    connection = await session.get(Connection, connection_id)
    if connection is None:
        return None
    wa = await session.get(WaSession, connection_id)
    rows = await session.execute(
        select(Company.id, Company.salon_name, Company.integration_status)
        .where(Company.connection_id == connection_id)
        .order_by(Company.id)
    )
    return Snapshot(
        connection_id=connection_id,
        connection_status=connection.status,
        whatsapp_state=wa.state if wa is not None else "stopped",
        whatsapp_reason=wa.reason if wa is not None else None,
        salons=[Salon(row.id, row.salon_name, row.integration_status) for row in rows],
        activation_error=connection.activation_error,
    )
