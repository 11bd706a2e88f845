"""Deduplication keys and message ids: the same event always, a different event never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from webhook_ingest.events import dedup_key, entity_message, lifecycle_message, message_id
from webhook_ingest.parsing import Kind, parse_entities, parse_lifecycle

RECORD = {"company_id": 1, "resource": "record", "resource_id": 9, "status": "update", "data": {}}
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_key_ignores_key_order_and_whitespace_but_not_content() -> None:
    reordered = dict(reversed(list(RECORD.items())))
    assert dedup_key(Kind.ENTITY, RECORD) == dedup_key(Kind.ENTITY, reordered)
    assert dedup_key(Kind.ENTITY, RECORD) != dedup_key(Kind.ENTITY, {**RECORD, "status": "delete"})
    assert dedup_key(Kind.ENTITY, RECORD) != dedup_key(Kind.LIFECYCLE, RECORD)


def test_a_retry_is_the_same_message() -> None:
    first = entity_message(parse_entities(RECORD)[0], RECORD, NOW)
    retry = entity_message(parse_entities(RECORD)[0], dict(RECORD), NOW + timedelta(seconds=1.5))
    assert first.envelope.id == retry.envelope.id == message_id(first.envelope.payload["dedup_key"])
    assert first.routing_key == "yclients.entity.record.update"


def test_unknown_names_route_safely() -> None:
    odd = {**RECORD, "resource": "goods.operation#", "status": "*"}
    message = entity_message(parse_entities(odd)[0], odd, NOW)
    assert message.routing_key == "yclients.entity.goods_operation_._"


def test_lifecycle_message_never_carries_the_partner_token() -> None:
    body = {"salon_id": 5, "application_id": 45, "event": "freeze", "partner_token": "secret-ish"}
    message = lifecycle_message(parse_lifecycle(body), body, NOW)
    assert "partner_token" not in message.envelope.payload["body"]
    assert b"secret-ish" not in message.envelope.to_bytes()
    assert message.routing_key == "yclients.lifecycle.freeze"
    assert len(message.envelope.payload["dedup_key"]) <= 128
