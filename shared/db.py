"""The async database layer: one engine per process and a unit of work per request or message."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.messages import Envelope, Payload
from shared.models import OutboxMessage, ProcessedMessage
from shared.topology import COMMANDS_EXCHANGE, EVENTS_EXCHANGE


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, echo=echo
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._sessions())

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


class UnitOfWork:
    """A transaction that rolls back unless committed.

    Messages published through it are written to the outbox in the same transaction; after
    ``commit`` they are in ``outgoing`` for the caller to hand to the outbox relay.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.outgoing: list[tuple[str, str, Envelope]] = []
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            await self.session.rollback()
            self.outgoing.clear()
        await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True

    async def claim_message(self, consumer: str, message_id: str) -> bool:
        """Record that ``consumer`` handles ``message_id``; False if it already did."""
        result = await self.session.execute(
            insert(ProcessedMessage)
            .values(consumer=consumer, message_id=message_id)
            .on_conflict_do_nothing()
            .returning(ProcessedMessage.message_id)
        )
        return result.scalar_one_or_none() is not None

    def publish(self, payload: Payload, correlation_id: str) -> Envelope:
        envelope = Envelope.wrap(payload, correlation_id)
        exchange = COMMANDS_EXCHANGE if payload.kind == "command" else EVENTS_EXCHANGE
        routing_key = payload.routing_key()
        self.session.add(
            OutboxMessage(
                id=envelope.id, exchange=exchange, routing_key=routing_key, body=envelope.to_bytes()
            )
        )
        self.outgoing.append((exchange, routing_key, envelope))
        return envelope
