"""The onboarding state in the database: opening a pending connection from a redirect, and
reading where a connection is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.redirect_params import MarketplaceUser
from shared.models import Company, Connection, IntegrationStatus, WaSession

# A redirect can be forged or replayed (it signs the user, not the salons): it never touches a
# salon that is installed or being installed, unless YClients says it no longer is.
UNTOUCHABLE = (IntegrationStatus.ACTIVE, IntegrationStatus.ACTIVATING, IntegrationStatus.FROZEN)


@dataclass(frozen=True)
class Salon:
    id: int
    name: str | None
    status: str


@dataclass(frozen=True)
class KnownSalon:
    """What a redirect must know of a salon already in our database."""

    id: int
    status: str
    connection_id: uuid.UUID | None
    user_id: str | None
    claimed_until: datetime | None


@dataclass(frozen=True)
class Claims:
    """How a redirect's salons split: the ones it may take, the ones connected already and the
    ones another YClients user is connecting right now."""

    claimable: list[int]
    connected: list[int]
    claimed_by_others: list[int]


def split_claims(
    salon_ids: list[int],
    known: dict[int, KnownSalon],
    user_id: str | None,
    now: datetime,
    reclaimable: frozenset[int] = frozenset(),
) -> Claims:
    """A salon is claimable unless it is installed (and YClients agrees) or bound, until its
    claim ends, to another user; the same user may always start over."""
    claims = Claims([], [], [])
    for salon_id in salon_ids:
        salon = known.get(salon_id)
        if salon is None:
            claims.claimable.append(salon_id)
        elif salon.status in UNTOUCHABLE and salon_id not in reclaimable:
            claims.connected.append(salon_id)
        elif (
            salon.claimed_until is not None
            and salon.claimed_until > now
            and salon.user_id != user_id
        ):
            claims.claimed_by_others.append(salon_id)
        else:
            claims.claimable.append(salon_id)
    return claims


@dataclass(frozen=True)
class Opened:
    """The outcome of a redirect: a new pending connection (None if nothing could be claimed,
    and then nothing must be committed), the salons left as they are, the salons another user
    holds (the redirect is then refused whole) and the connections it left without salons."""

    connection_id: uuid.UUID | None
    claimed: list[int]
    untouched: list[Salon] = field(default_factory=list)
    claimed_by_others: list[int] = field(default_factory=list)
    emptied: list[uuid.UUID] = field(default_factory=list)


async def known_salons(
    session: AsyncSession, salon_ids: list[int], lock: bool = False
) -> dict[int, KnownSalon]:
    statement = select(
        Company.id,
        Company.integration_status,
        Company.connection_id,
        Company.marketplace_user_id,
        Company.claimed_until,
    ).where(Company.id.in_(salon_ids))
    if lock:
        statement = statement.with_for_update()
    rows = await session.execute(statement)
    return {row.id: KnownSalon(*row) for row in rows}


async def open_connection(
    session: AsyncSession,
    salon_ids: list[int],
    user: MarketplaceUser | None,
    claim_seconds: float,
    reclaimable: frozenset[int] = frozenset(),
) -> Opened:
    """Claim the salons a redirect may take for a new pending connection, bound to its user.

    Known salons are locked and judged by :func:`split_claims`; new ones are inserted with the
    same rule in the statement itself, so two racing redirects cannot both claim a salon.
    """
    user_id = user.id if user is not None else None
    now = datetime.now(UTC)
    known = await known_salons(session, salon_ids, lock=True)
    claims = split_claims(salon_ids, known, user_id, now, reclaimable)
    untouched = await salons_by_id(session, claims.connected)
    if claims.claimed_by_others or not claims.claimable:
        return Opened(None, [], untouched, claims.claimed_by_others)

    connection_id = uuid.uuid4()
    session.add(Connection(id=connection_id, status="pending", consented_at=now))
    await session.flush()
    values: dict[str, Any] = {
        "connection_id": connection_id,
        "integration_status": IntegrationStatus.PENDING,
        "claimed_until": now + timedelta(seconds=claim_seconds),
        "marketplace_user_id": user_id,
    }
    if user is not None:
        values |= {
            "marketplace_user_name": user.name,
            "marketplace_user_phone": user.phone,
            "marketplace_user_email": user.email,
            "marketplace_user_approved": user.is_approved,
        }
        # One salon name for several salons would be wrong for all but one.
        if user.salon_name and len(salon_ids) == 1:
            values["salon_name"] = user.salon_name
    statement = insert(Company).values(
        [{"id": salon_id, **values} for salon_id in claims.claimable]
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[Company.id],
        set_={
            **{name: statement.excluded[name] for name in values},
            "activation_error": None,
            "updated_at": func.now(),
        },
        # Only for a row inserted by a racing redirect since the lock above: the same rule.
        where=or_(
            Company.claimed_until.is_(None),
            Company.claimed_until <= func.now(),
            Company.marketplace_user_id.is_not_distinct_from(
                statement.excluded.marketplace_user_id
            ),
        ),
    ).returning(Company.id)
    claimed = set((await session.execute(upsert)).scalars())
    if claimed != set(claims.claimable):
        # Lost a race with another user's redirect: refuse whole, as if it had come first.
        return Opened(None, [], untouched, sorted(set(claims.claimable) - claimed))
    left = {
        salon.connection_id
        for salon_id, salon in known.items()
        if salon_id in claimed and salon.connection_id is not None
    }
    emptied = await connections_without_salons(session, left)
    return Opened(connection_id, [s for s in salon_ids if s in claimed], untouched, emptied=emptied)


async def supersede(session: AsyncSession, connection_id: uuid.UUID) -> None:
    """A connection whose salons a newer redirect of the same user took."""
    await session.execute(
        update(Connection)
        .where(Connection.id == connection_id)
        .values(status="superseded", updated_at=func.now())
    )


async def connections_without_salons(
    session: AsyncSession, connection_ids: set[uuid.UUID]
) -> list[uuid.UUID]:
    if not connection_ids:
        return []
    still_used = set(
        await session.scalars(
            select(Company.connection_id).where(Company.connection_id.in_(connection_ids))
        )
    )
    return sorted(connection_ids - still_used)


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
    # The YClients user who opened the connection, as YClients identified and named them.
    user_id: str | None = None
    user_name: str | None = None

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
            "user": {"name": self.user_name},
        }


async def snapshot(session: AsyncSession, connection_id: uuid.UUID) -> Snapshot | None:
    connection = await session.get(Connection, connection_id)
    if connection is None:
        return None
    wa = await session.get(WaSession, connection_id)
    rows = (
        await session.execute(
            select(
                Company.id,
                Company.salon_name,
                Company.integration_status,
                Company.marketplace_user_id,
                Company.marketplace_user_name,
            )
            .where(Company.connection_id == connection_id)
            .order_by(Company.id)
        )
    ).all()
    return Snapshot(
        connection_id=connection_id,
        connection_status=connection.status,
        whatsapp_state=wa.state if wa is not None else "stopped",
        whatsapp_reason=wa.reason if wa is not None else None,
        salons=[Salon(row.id, row.salon_name, row.integration_status) for row in rows],
        activation_error=connection.activation_error,
        user_id=next((row.marketplace_user_id for row in rows if row.marketplace_user_id), None),
        user_name=next(
            (row.marketplace_user_name for row in rows if row.marketplace_user_name), None
        ),
    )


# A QR login lives about 60 s + 5 × 20 s before WhatsApp ends it; a little more to be safe.
LOGIN_LIVE = timedelta(minutes=4)


@dataclass(frozen=True)
class LoginStart:
    requested_at: datetime
    # The user's older unscanned logins to stop to make room.
    to_stop: list[uuid.UUID]


async def start_login(
    session: AsyncSession, connection_id: uuid.UUID, user_id: str | None, per_user: int
) -> LoginStart:
    """Record that this connection's page asked for a login, and make room for it: a YClients
    user holds at most ``per_user`` unscanned logins, so their oldest ones beyond that are
    returned for the caller to stop (the newest page is the one the admin looks at)."""
    now = datetime.now(UTC)
    await session.execute(
        update(Connection).where(Connection.id == connection_id).values(login_requested_at=now)
    )
    if user_id is None:
        return LoginStart(now, [])
    # One user's login starts one at a time, on every instance, so that the count holds.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"logins:{user_id}"}
    )
    others = list(
        await session.scalars(
            select(Connection.id)
            .join(Company, Company.connection_id == Connection.id)
            .outerjoin(WaSession, WaSession.id == Connection.id)
            .where(
                Company.marketplace_user_id == user_id,
                Connection.id != connection_id,
                Connection.status == "pending",
                Connection.login_requested_at > now - LOGIN_LIVE,
                WaSession.linked_at.is_(None),
            )
            .group_by(Connection.id)
            .order_by(func.min(Connection.login_requested_at))
        )
    )
    to_stop = others[: max(0, len(others) - per_user + 1)]
    if to_stop:
        await session.execute(
            update(Connection).where(Connection.id.in_(to_stop)).values(login_requested_at=None)
        )
    return LoginStart(now, to_stop)
