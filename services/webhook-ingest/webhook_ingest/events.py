"""From accepted bodies to bus messages whose identity is their content.

YClients' retries send the same body again, so the deduplication key is a hash of the event's
canonical JSON, within a window of time, and the envelope id is derived from it: a retry, a
re-forwarded spool line and a broker redelivery are all the same message, recorded once.

Only within YClients' retry horizon, though: lifecycle bodies carry no id or time, so the same
body a day later (an uninstall after a reinstall) is another event, and must act again. The
window (``WEBHOOK_DEDUP_SECONDS``, 60 s: YClients gives up after two retries 1.5 s apart, each
within a 10 s timeout) is a fixed one, so a retry that happens to straddle its end is delivered
twice; the handlers are idempotent by state, and that is harmless.

This is the hot path of every webhook, so the envelope is serialized straight from the checked
body (``Envelope.serialize``) rather than through the payload models; a unit test holds the
result to ``LifecycleReceived`` and ``EntityReceived``.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import orjson

from shared.bus import SerializedMessage
from shared.messages import (
    EntityReceived,
    Envelope,
    LifecycleReceived,
    entity_routing_key,
    lifecycle_routing_key,
)
from shared.refusals import Refusal
from webhook_ingest.parsing import TOO_DEEP, EntityBody, Kind, LifecycleBody

# Fixed forever: changing it would make old and new copies of one event look different.
_ENVELOPE_NAMESPACE = uuid.UUID("6f1d3c5e-2b7a-4e0f-9a51-8c3d2e4f6a70")


def canonical_json(body: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        # orjson writes at most 254 levels; the envelope adds two more (see _message).
        raise Refusal(422, "invalid_body", TOO_DEEP) from None


DEFAULT_DEDUP_SECONDS = 60


def dedup_key(kind: Kind, body: dict[str, Any], received_at: datetime, window_seconds: int) -> str:
    window = int(received_at.timestamp()) // window_seconds
    return f"{kind}:{hashlib.sha256(canonical_json(body)).hexdigest()}:{window}"


def message_id(key: str) -> str:
    return str(uuid.uuid5(_ENVELOPE_NAMESPACE, key))


def without_token(document: dict[str, Any]) -> dict[str, Any]:
    """The lifecycle body as recorded and published: the partner token never leaves the edge."""
    return {key: value for key, value in document.items() if key != "partner_token"}


def lifecycle_message(
    parsed: LifecycleBody,
    document: dict[str, Any],
    received_at: datetime,
    dedup_seconds: int = DEFAULT_DEDUP_SECONDS,
) -> SerializedMessage:
    body = without_token(document)
    key = dedup_key(Kind.LIFECYCLE, body, received_at, dedup_seconds)
    payload = {
        "dedup_key": key,
        "salon_id": parsed.salon_id,
        "application_id": parsed.application_id,
        "event": parsed.event,
        "received_at": received_at,
        "body": body,
    }
    return _message(
        LifecycleReceived.message_type,
        lifecycle_routing_key(parsed.event),
        f"salon-{parsed.salon_id}",
        payload,
        received_at,
    )


def entity_message(
    parsed: EntityBody,
    document: dict[str, Any],
    received_at: datetime,
    dedup_seconds: int = DEFAULT_DEDUP_SECONDS,
) -> SerializedMessage:
    key = dedup_key(Kind.ENTITY, document, received_at, dedup_seconds)
    payload = {
        "dedup_key": key,
        "company_id": parsed.company_id,
        "resource": parsed.resource,
        "resource_id": parsed.resource_id,
        "status": parsed.status,
        "received_at": received_at,
        "body": document,
    }
    return _message(
        EntityReceived.message_type,
        entity_routing_key(parsed.resource, parsed.status),
        f"salon-{parsed.company_id}",
        payload,
        received_at,
    )


def _message(
    message_type: str,
    routing_key: str,
    correlation_id: str,
    payload: dict[str, Any],
    received_at: datetime,
) -> SerializedMessage:
    envelope_id = message_id(payload["dedup_key"])
    try:
        body = Envelope.serialize(
            message_id=envelope_id,
            message_type=message_type,
            correlation_id=correlation_id,
            time=received_at,
            payload=payload,
        )
    except orjson.JSONEncodeError:
        raise Refusal(422, "invalid_body", TOO_DEEP) from None
    return SerializedMessage(
        routing_key, envelope_id, message_type, correlation_id, received_at, body
    )
