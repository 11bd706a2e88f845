"""Deduplication keys, message ids, and the envelopes the hot path serializes by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from webhook_ingest.events import dedup_key, entity_message, lifecycle_message, message_id
from webhook_ingest.parsing import Kind, parse_entities, parse_lifecycle

from shared.messages import EntityReceived, Envelope, LifecycleReceived
from shared.refusals import Refusal

RECORD = {"company_id": 1, "resource": "record", "resource_id": 9, "status": "update", "data": {}}
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def key(kind: Kind, body: dict, at: datetime = NOW) -> str:  # type: ignore[type-arg]
    return dedup_key(kind, body, at, 60)


def test_key_ignores_key_order_and_whitespace_but_not_content() -> None:
    reordered = dict(reversed(list(RECORD.items())))
    assert key(Kind.ENTITY, RECORD) == key(Kind.ENTITY, reordered)
    assert key(Kind.ENTITY, RECORD) != key(Kind.ENTITY, {**RECORD, "status": "delete"})
    assert key(Kind.ENTITY, RECORD) != key(Kind.LIFECYCLE, RECORD)


def test_a_retry_is_the_same_message() -> None:
    first = entity_message(parse_entities(RECORD)[0], RECORD, NOW)
    retry = entity_message(parse_entities(RECORD)[0], dict(RECORD), NOW + timedelta(seconds=1.5))
    assert first.message_id == retry.message_id == message_id(key(Kind.ENTITY, RECORD))
    assert first.routing_key == "yclients.entity.record.update"


def test_the_same_body_later_than_the_retry_horizon_is_another_event() -> None:
    uninstall = {"salon_id": 5, "application_id": 45, "event": "uninstall", "partner_token": "t"}
    first = lifecycle_message(parse_lifecycle(uninstall), uninstall, NOW)
    retry = lifecycle_message(parse_lifecycle(uninstall), uninstall, NOW + timedelta(seconds=23))
    again = lifecycle_message(parse_lifecycle(uninstall), uninstall, NOW + timedelta(days=1))
    assert first.message_id == retry.message_id
    assert again.message_id != first.message_id


def test_entity_envelope_reads_back_as_the_payload_model() -> None:
    body = {**RECORD, "resource_id": "a-9", "data": {"client": {"name": "Анна"}, "cost": 1.5}}
    message = entity_message(parse_entities(body)[0], body, NOW)
    envelope = Envelope.from_bytes(message.body)
    expected = EntityReceived(
        dedup_key=key(Kind.ENTITY, body),
        company_id=1,
        resource="record",
        resource_id="a-9",
        status="update",
        received_at=NOW,
        body=body,
    )
    assert envelope.parse(EntityReceived) == expected
    assert (envelope.id, envelope.type, envelope.correlation_id, envelope.time) == (
        message.message_id,
        message.message_type,
        message.correlation_id,
        message.time,
    )
    assert message.routing_key == expected.routing_key()


def test_unknown_names_route_safely() -> None:
    odd = {**RECORD, "resource": "goods.operation#", "status": "*"}
    message = entity_message(parse_entities(odd)[0], odd, NOW)
    assert message.routing_key == "yclients.entity.goods_operation_._"


def test_lifecycle_message_never_carries_the_partner_token() -> None:
    body = {"salon_id": 5, "application_id": 45, "event": "freeze", "partner_token": "secret-ish"}
    message = lifecycle_message(parse_lifecycle(body), body, NOW)
    event = Envelope.from_bytes(message.body).parse(LifecycleReceived)
    assert "partner_token" not in event.body
    assert b"secret-ish" not in message.body
    assert message.routing_key == event.routing_key() == "yclients.lifecycle.freeze"
    assert len(event.dedup_key) <= 128


def test_a_body_too_deep_to_serialize_is_refused_not_failed() -> None:
    deep: object = 1
    for _ in range(300):
        deep = [deep]
    body = {**RECORD, "data": {"nested": deep}}
    with pytest.raises(Refusal) as refusal:
        entity_message(parse_entities(body)[0], body, NOW)
    assert (refusal.value.status, refusal.value.code) == (422, "invalid_body")
