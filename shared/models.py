"""The database schema. Created only by the Alembic migrations in ``migrations/``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class IntegrationStatus:
    """``companies.integration_status``: our view of one salon's installation."""

    PENDING = "pending"  # redirect seen, WhatsApp not linked yet
    ACTIVATING = "activating"  # WhatsApp linked, YClients being told
    ACTIVE = "active"
    ACTIVATION_FAILED = "activation_failed"
    FROZEN = "frozen"  # YClients' "freezed": billing expired
    UNINSTALLED = "uninstalled"


class Connection(Base):
    """One WhatsApp login serving the salons an admin picked in one redirect.

    Its WhatsApp session has the same id.
    """

    __tablename__ = "connections"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="pending")
    # When the admin consented in YClients (the redirect): the activation window starts here.
    consented_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    whatsapp_phone: Mapped[str | None] = mapped_column(String(32))
    activation_error: Mapped[str | None] = mapped_column(Text)
    # When the page last asked for a WhatsApp login (a QR or a pairing code).
    login_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Company(Base):
    """A YClients salon (branch). The primary key is YClients' own salon id."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("connections.id", ondelete="SET NULL"), index=True
    )
    integration_status: Mapped[str] = mapped_column(String(32), nullable=False, default="pending")
    salon_name: Mapped[str | None] = mapped_column(Text)
    marketplace_user_id: Mapped[str | None] = mapped_column(String(64))
    marketplace_user_name: Mapped[str | None] = mapped_column(Text)
    marketplace_user_phone: Mapped[str | None] = mapped_column(String(32))
    marketplace_user_email: Mapped[str | None] = mapped_column(Text)
    marketplace_user_approved: Mapped[bool | None] = mapped_column(Boolean)
    # Until then only the YClients user above may open a connection for this salon: a redirect
    # proves who the user is, not that the salon is theirs (see docs, "threat model").
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    whatsapp_phone: Mapped[str | None] = mapped_column(String(32))
    whatsapp_connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    whatsapp_channel_enabled: Mapped[bool | None] = mapped_column(Boolean)
    # The key YClients uses towards us: only its SHA-256 is kept.
    api_key_hash: Mapped[str | None] = mapped_column(String(64))
    webhook_secret: Mapped[str | None] = mapped_column(String(128), unique=True)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activation_error: Mapped[str | None] = mapped_column(Text)
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    uninstalled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_payment_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class MarketplaceToken(Base):
    """Onboarding tokens issued to a browser; the JWT's ``jti`` is the key, so it can be revoked."""

    __tablename__ = "marketplace_tokens"

    jti: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(32), nullable=False, default="onboarding")
    issued_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MarketplaceEvent(Base):
    """Everything YClients sent us, once each (``dedup_key`` is unique)."""

    __tablename__ = "marketplace_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    dedup_key: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # lifecycle | entity
    event_type: Mapped[str] = mapped_column(String(128), nullable=False)
    salon_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    resource: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    message_id: Mapped[str] = mapped_column(String(64), nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_at: Mapped[datetime] = _now()


class WaSession(Base):
    """A WhatsApp login's state, and which wa-session instance owns it (a lease with a fence)."""

    __tablename__ = "wa_sessions"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(32), nullable=False, default="stopped")
    # Whether the session should be running: set by start, cleared by stop/logout/terminal states.
    desired_running: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    pairing_phone: Mapped[str | None] = mapped_column(String(32))
    # An action for the lease owner to carry out ("logout"), set by whoever took the command.
    pending_action: Mapped[str | None] = mapped_column(String(16))
    # When the last start, stop or logout applied here was asked for: an older one that is
    # consumed later (commands are handled concurrently) is ignored.
    command_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the auth state was last wiped (the device logged out): a logout asked for before
    # that was carried out already.
    wiped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    phone: Mapped[str | None] = mapped_column(String(32))
    # Since when the phone has linked this login (cleared when WhatsApp forgets the device):
    # linked logins serve salons and are resumed before unscanned ones are started.
    linked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(128))
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_wa_sessions_lease", "desired_running", "lease_expires_at"),)


class WaAuthKey(Base):
    """Encrypted Baileys auth state: ``creds`` and the signal keys, one row per (category, id)."""

    __tablename__ = "wa_auth_keys"

    session_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("wa_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    key_version: Mapped[str] = mapped_column(String(32), nullable=False)
    nonce: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    updated_at: Mapped[datetime] = _now()


class RateLimitCounter(Base):
    """Requests counted per key (a user, an address, a phone number…) in a fixed window, shared
    by every instance."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ProcessedMessage(Base):
    """Message ids a consumer has handled, written in the handler's own transaction."""

    __tablename__ = "processed_messages"

    consumer: Mapped[str] = mapped_column(String(128), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = _now()


class OutboxMessage(Base):
    """Messages committed with the state change that caused them, published after commit."""

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    exchange: Mapped[str] = mapped_column(String(64), nullable=False)
    routing_key: Mapped[str] = mapped_column(String(256), nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = _now()


class ActivationAttempt(Base):
    """One call to YClients' install endpoint for one salon: the audit trail of activation."""

    __tablename__ = "activation_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    company_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    connection_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


__all__ = [
    "ActivationAttempt",
    "Base",
    "Company",
    "Connection",
    "IntegrationStatus",
    "MarketplaceEvent",
    "MarketplaceToken",
    "OutboxMessage",
    "ProcessedMessage",
    "RateLimitCounter",
    "WaAuthKey",
    "WaSession",
]
