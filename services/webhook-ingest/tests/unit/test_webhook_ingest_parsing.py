"""Parsing and classification of YClients bodies: what is accepted and the exact refusals."""

from __future__ import annotations

import pytest
from webhook_ingest.parsing import Kind, classify, decode_json, parse_entities, parse_lifecycle

from shared.refusals import Refusal

RECORD = {
    "company_id": 123,
    "resource": "record",
    "resource_id": 456,
    "status": "create",
    "data": {"id": 456, "services": [{"id": 1, "title": "Стрижка"}]},
}
LIFECYCLE = {"salon_id": 123, "application_id": 45, "event": "uninstall", "partner_token": "t"}


def _refusal(call, *args) -> Refusal:  # type: ignore[no-untyped-def]
    with pytest.raises(Refusal) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", "empty_body"),
        (b"   ", "empty_body"),
        (b"{", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b'{"a": NaN}', "malformed_json"),
        (b"[" * 5000 + b"]" * 5000, "malformed_json"),
        (b'{"a": "\\ud800"}', "malformed_json"),  # a lone surrogate: PostgreSQL refuses it too
        (b'{"a": 1e400}', "malformed_json"),
    ],
)
def test_bodies_that_are_not_json_are_400(raw: bytes, error: str) -> None:
    refusal = _refusal(decode_json, raw)
    assert (refusal.status, refusal.code) == (400, error)


def test_nul_in_a_string_is_refused_because_postgresql_cannot_store_it() -> None:
    refusal = _refusal(decode_json, b'{"resource": "a\\u0000b"}')
    assert refusal.status == 422
    assert decode_json(b'{"resource": "a\\\\u0000b"}') == {"resource": "a\\u0000b"}


def test_integers_are_kept_exactly_or_refused_never_rounded() -> None:
    assert decode_json(b'{"a": 18446744073709551615, "b": -9223372036854775808}') == {
        "a": 2**64 - 1,
        "b": -(2**63),
    }
    assert decode_json(b'{"phone": "79161234567890123456"}') == {"phone": "79161234567890123456"}
    for wide in (b'{"a": 18446744073709551616}', b'{"a": [-9223372036854775809]}'):
        refusal = _refusal(decode_json, wide)
        assert (refusal.status, refusal.code) == (422, "invalid_body")


def test_classification() -> None:
    assert classify(LIFECYCLE) is Kind.LIFECYCLE
    assert classify({"event": "freeze"}) is Kind.LIFECYCLE
    assert classify(RECORD) is Kind.ENTITY
    assert classify([RECORD]) is Kind.ENTITY
    assert classify([]) is Kind.ENTITY
    for document in (42, "x", None, {"hello": 1}):
        assert _refusal(classify, document).status == 422


def test_lifecycle_fields_are_validated_and_extra_fields_kept() -> None:
    parsed = parse_lifecycle({**LIFECYCLE, "salon_id": "123", "amount": 990})
    assert parsed.salon_id == 123
    assert parsed.model_extra == {"partner_token": "t", "amount": 990}
    for bad in (
        {**LIFECYCLE, "salon_id": True},
        {**LIFECYCLE, "salon_id": 1.5},
        {**LIFECYCLE, "salon_id": 0},
        {**LIFECYCLE, "salon_id": 2**63},
        {**LIFECYCLE, "event": ""},
        {**LIFECYCLE, "event": "x" * 65},
        {"salon_id": 1, "partner_token": "t"},
    ):
        refusal = _refusal(parse_lifecycle, bad)
        assert refusal.status == 422
        assert refusal.detail and "input" not in refusal.detail[0]


def test_entities_one_or_many() -> None:
    assert [e.resource_id for e in parse_entities(RECORD)] == [456]
    many = parse_entities([RECORD, {**RECORD, "resource_id": "abc", "status": "delete"}])
    assert [e.status for e in many] == ["create", "delete"]
    assert parse_entities({**RECORD, "data": None}) is not None


@pytest.mark.parametrize(
    "bad",
    [
        [],
        [RECORD, 5],
        {**RECORD, "company_id": "abc"},
        {**RECORD, "resource": 7},
        {**RECORD, "status": "x" * 33},
        {**RECORD, "resource_id": "x" * 65},
        {**RECORD, "data": "text"},
        {key: value for key, value in RECORD.items() if key != "status"},
    ],
)
def test_bad_entities_are_422(bad: object) -> None:
    assert _refusal(parse_entities, bad).status == 422
