"""The message envelope and the typed payload of every command and event.

Commands are imperative and have one handler; events are past tense and have any number of
consumers. Every message on the bus is an :class:`Envelope` serialized as JSON; a consumer
reads the payload fields it needs and ignores the rest, so adding a field is not a breaking
change (bump ``version`` only for one that is).
"""

from __future__ import annotations

import builtins
import functools
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    # The routing key of the message; a class variable, not a field.
    message_type: ClassVar[str]
    kind: ClassVar[Literal["command", "event"]]

    def routing_key(self) -> str:
        return self.message_type


class Command(Payload):
    kind: ClassVar[Literal["command", "event"]] = "command"


class Event(Payload):
    kind: ClassVar[Literal["command", "event"]] = "event"


P = TypeVar("P", bound=Payload)


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    version: int = 1
    time: datetime = Field(default_factory=utcnow)
    correlation_id: str
    payload: dict[str, Any]

    @classmethod
    def wrap(cls, payload: Payload, correlation_id: str, message_id: str | None = None) -> Envelope:
        return cls(
            id=message_id or str(uuid.uuid4()),
            type=payload.message_type,
            correlation_id=correlation_id,
            payload=payload.model_dump(mode="json"),
        )

    def parse(self, model: builtins.type[P]) -> P:
        return model.model_validate(self.payload)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @staticmethod
    def serialize(
        *,
        message_id: str,
        message_type: str,
        correlation_id: str,
        time: datetime,
        payload: Mapping[str, Any],
    ) -> bytes:
        """The JSON of an envelope around an already checked, JSON-ready payload.

        For hot paths: no model is built or validated, so it costs a fraction of
        ``wrap(...).to_bytes()``; ``from_bytes`` reads the result like any other envelope.
        """
        return orjson.dumps(
            {
                "id": message_id,
                "type": message_type,
                "version": 1,
                "time": time,
                "correlation_id": correlation_id,
                "payload": payload,
            }
        )

    @classmethod
    def from_bytes(cls, body: bytes) -> Envelope:
        return cls.model_validate_json(body)


# --- wa-session -------------------------------------------------------------------------------
# A connection's WhatsApp session carries the connection's id: one login per connection.

SessionState = Literal[
    "starting",
    "waiting_for_scan",
    "paired",
    "restarting",
    "connected",
    "reconnecting",
    "qr_expired",
    "logged_out",
    "replaced",
    "stopped",
    "client_too_old",
    "failed",
]


class SessionCommand(Command):
    session_id: str
    # When the sender asked: of a start and a stop handled out of order, the later asked wins.
    requested_at: datetime = Field(default_factory=utcnow)


class StartSession(SessionCommand):
    message_type: ClassVar[str] = "wa.session.start"
    # With a phone number the bridge asks for a pairing code instead of showing QR codes.
    pairing_phone: str | None = None


class StopSession(SessionCommand):
    message_type: ClassVar[str] = "wa.session.stop"


class LogoutSession(SessionCommand):
    message_type: ClassVar[str] = "wa.session.logout"
    reason: str = "requested"


class QrIssued(Event):
    message_type: ClassVar[str] = "wa.session.qr"
    session_id: str
    qr: str
    index: int
    expires_at: datetime
    # The QR on screen re-rendered (WhatsApp retired its secret): it replaces the one with the
    # same index, it is no new attempt.
    refresh: bool = False


class PairingCodeIssued(Event):
    message_type: ClassVar[str] = "wa.session.pairing_code"
    session_id: str
    code: str


class SessionStateChanged(Event):
    message_type: ClassVar[str] = "wa.session.status"
    session_id: str
    state: SessionState
    seq: int
    reason: str | None = None
    qr_index: int | None = None
    qr_expires_at: datetime | None = None
    retry_in_seconds: float | None = None


class SessionConnected(Event):
    message_type: ClassVar[str] = "wa.session.connected"
    session_id: str
    phone: str


class SessionLoggedOut(Event):
    message_type: ClassVar[str] = "wa.session.logged_out"
    session_id: str
    phone: str | None = None
    reason: str = "logged_out"


class SessionFailed(Event):
    message_type: ClassVar[str] = "wa.session.error"
    session_id: str
    reason: str
    message: str = ""


# --- activation -------------------------------------------------------------------------------


class RetryActivation(Command):
    message_type: ClassVar[str] = "activation.retry"
    connection_id: str


class ActivationStarted(Event):
    message_type: ClassVar[str] = "activation.started"
    connection_id: str
    salon_ids: list[int]


class ActivationCompleted(Event):
    message_type: ClassVar[str] = "activation.completed"
    connection_id: str
    salon_ids: list[int]


class ActivationFailed(Event):
    message_type: ClassVar[str] = "activation.failed"
    connection_id: str
    # A stable code for programs (window_expired, rejected, unavailable) and a Russian
    # sentence the onboarding page can show as it is.
    reason: str
    message: str
    salon_id: int | None = None
    retryable: bool = True


# --- gateway ----------------------------------------------------------------------------------


RevocationReason = Literal["superseded", "activated", "uninstalled"]


class OnboardingTokensRevoked(Event):
    """A connection's onboarding tokens no longer open anything: every gateway instance ends the
    pages still connected with them."""

    message_type: ClassVar[str] = "gateway.tokens_revoked"
    connection_id: str
    reason: RevocationReason


# --- YClients webhooks ------------------------------------------------------------------------


class LifecycleReceived(Event):
    """``yclients.lifecycle.<event>``: uninstall, freeze, payment or anything else sent."""

    message_type: ClassVar[str] = "yclients.lifecycle"
    dedup_key: str
    salon_id: int
    application_id: int
    event: str
    received_at: datetime
    body: dict[str, Any]

    def routing_key(self) -> str:
        return lifecycle_routing_key(self.event)


class EntityReceived(Event):
    """``yclients.entity.<resource>.<status>``: a record, client, … created, changed or deleted."""

    message_type: ClassVar[str] = "yclients.entity"
    dedup_key: str
    company_id: int
    resource: str
    resource_id: int | str | None
    status: str
    received_at: datetime
    body: dict[str, Any]

    def routing_key(self) -> str:
        return entity_routing_key(self.resource, self.status)


def lifecycle_routing_key(event: str) -> str:
    return f"{LifecycleReceived.message_type}.{_token(event)}"


def entity_routing_key(resource: str, status: str) -> str:
    return f"{EntityReceived.message_type}.{_token(resource)}.{_token(status)}"


@functools.lru_cache(maxsize=4096)  # the same few names arrive over and over
def _token(word: str) -> str:
    """A routing-key word: no dots or wildcards from outside input."""
    cleaned = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in word.lower())
    return cleaned[:64] or "unknown"


COMMANDS: tuple[type[Command], ...] = (StartSession, StopSession, LogoutSession, RetryActivation)
EVENTS: tuple[type[Event], ...] = (
    QrIssued,
    PairingCodeIssued,
    SessionStateChanged,
    SessionConnected,
    SessionLoggedOut,
    SessionFailed,
    ActivationStarted,
    ActivationCompleted,
    ActivationFailed,
    OnboardingTokensRevoked,
    LifecycleReceived,
    EntityReceived,
)
