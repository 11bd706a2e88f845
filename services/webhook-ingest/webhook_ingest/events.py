"""From accepted bodies to bus messages whose identity is their content.

YClients' retries send the same body again, so the deduplication key is a hash of the event's
canonical JSON and the envelope id is derived from it: a retry, a re-forwarded spool line and a
broker redelivery are all the same message, recorded once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.messages import EntityReceived, Envelope, LifecycleReceived
from webhook_ingest.parsing import EntityBody, Kind, LifecycleBody

# Fixed forever: changing it would make old and new copies of one event look different.
_ENVELOPE_NAMESPACE = uuid.UUID("6f1d3c5e-2b7a-4e0f-9a51-8c3d2e4f6a70")


@dataclass(frozen=True)
class Outgoing:
    routing_key: str
    envelope: Envelope


def canonical_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def dedup_key(kind: Kind, body: dict[str, Any]) -> str:
    return f"{kind}:{hashlib.sha256(canonical_json(body)).hexdigest()}"


def message_id(key: str) -> str:
    return str(uuid.uuid5(_ENVELOPE_NAMESPACE, key))


def without_token(document: dict[str, Any]) -> dict[str, Any]:
    """The lifecycle body as recorded and published: the partner token never leaves the edge."""
    return {key: value for key, value in document.items() if key != "partner_token"}


def lifecycle_message(
    parsed: LifecycleBody, document: dict[str, Any], received_at: datetime
) -> Outgoing:
    body = without_token(document)
    key = dedup_key(Kind.LIFECYCLE, body)
    payload = LifecycleReceived(
        dedup_key=key,
        salon_id=parsed.salon_id,
        application_id=parsed.application_id,
        event=parsed.event,
        received_at=received_at,
        body=body,
    )
    envelope = Envelope.wrap(payload, f"salon-{parsed.salon_id}", message_id=message_id(key))
    return Outgoing(payload.routing_key(), envelope)


def entity_message(parsed: EntityBody, document: dict[str, Any], received_at: datetime) -> Outgoing:
    key = dedup_key(Kind.ENTITY, document)
    payload = EntityReceived(
        dedup_key=key,
        company_id=parsed.company_id,
        resource=parsed.resource,
        resource_id=parsed.resource_id,
        status=parsed.status,
        received_at=received_at,
        body=document,
    )
    envelope = Envelope.wrap(payload, f"salon-{parsed.company_id}", message_id=message_id(key))
    return Outgoing(payload.routing_key(), envelope)
