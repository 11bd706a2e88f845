"""Reading the YClients redirect: salon id forms, tolerant user_data decoding, the signature."""

from __future__ import annotations

import base64
import json

import pytest
from gateway.redirect_params import (
    BadRedirect,
    decode_user_data,
    parse_user,
    salon_ids_from,
    signature_matches,
    verified_user,
)

from shared.crypto import hmac_sha256_hex

PARTNER = "partner-token-for-unit-tests-0123456789"
USER = {
    "id": 77,
    "name": "Анна Петрова",
    "phone": "+7 (999) 123-45-67",
    "salon_name": "Салон «Ромашка»",
}
RAW = json.dumps(USER, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("salon_id", "12")], [12]),
        ([("salon_ids", "12")], [12]),
        ([("salon_ids[]", "1"), ("salon_ids[]", "2")], [1, 2]),
        ([("salon_ids[0]", "5"), ("salon_ids[1]", "3")], [5, 3]),
        ([("salon_id", "4"), ("salon_ids[]", "4"), ("salon_ids[0]", " 9 ")], [4, 9]),
        ([("user_data", "x"), ("salon_id", "8"), ("other", "1")], [8]),
    ],
)
def test_every_form_of_salon_ids_is_read_and_deduplicated(query, expected):
    assert salon_ids_from(query, limit=10) == expected


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ([], "no_salon_id"),
        ([("salon_id", "")], "bad_salon_id"),
        ([("salon_id", "0")], "bad_salon_id"),
        ([("salon_id", "-3")], "bad_salon_id"),
        ([("salon_id", "12a")], "bad_salon_id"),
        ([("salon_id", "1" * 30)], "bad_salon_id"),
        ([("salon_ids[]", str(n)) for n in range(1, 13)], "too_many_salons"),
    ],
)
def test_bad_or_too_many_salon_ids_are_refused(query, reason):
    with pytest.raises(BadRedirect) as refused:
        salon_ids_from(query, limit=10)
    assert refused.value.reason == reason
    assert refused.value.status == 400


@pytest.mark.parametrize(
    "encoded",
    [
        base64.urlsafe_b64encode(RAW).decode(),
        base64.urlsafe_b64encode(RAW).decode().rstrip("="),
        base64.b64encode(RAW).decode(),
        base64.b64encode(RAW).decode().rstrip("="),
        base64.b64encode(RAW).decode().replace("+", " "),
        RAW.decode(),
    ],
    ids=["urlsafe", "urlsafe-unpadded", "standard", "standard-unpadded", "plus-as-space", "raw"],
)
def test_user_data_is_decoded_whatever_the_encoding(encoded):
    assert decode_user_data(encoded) == RAW


def test_the_sample_exercises_plus_and_padding():
    # Otherwise the variants above would not test "+" (or "-") and "=" at all.
    standard = base64.b64encode(RAW).decode()
    assert "+" in standard
    assert standard.endswith("=")


def test_garbage_user_data_is_refused():
    with pytest.raises(BadRedirect) as refused:
        decode_user_data("@@not base64@@")
    assert refused.value.reason == "user_data_not_base64"


def test_signature_is_hmac_of_the_decoded_bytes():
    good = hmac_sha256_hex(PARTNER, RAW)
    assert signature_matches(RAW, good, PARTNER)
    assert signature_matches(RAW, good.upper(), PARTNER)
    assert not signature_matches(RAW, hmac_sha256_hex("another-partner-token-xxxxxx", RAW), PARTNER)
    assert not signature_matches(RAW + b" ", good, PARTNER)
    assert not signature_matches(RAW, good[:-1], PARTNER)
    # Signed over the base64 text instead of the decoded bytes: wrong.
    encoded = base64.urlsafe_b64encode(RAW)
    assert not signature_matches(RAW, hmac_sha256_hex(PARTNER, encoded), PARTNER)


def test_verified_user_reads_the_fields_with_cyrillic():
    user = verified_user(
        base64.urlsafe_b64encode(RAW).decode(), hmac_sha256_hex(PARTNER, RAW), PARTNER, True
    )
    assert user is not None
    assert (user.id, user.name, user.phone, user.salon_name) == (
        "77",
        "Анна Петрова",
        "79991234567",
        "Салон «Ромашка»",
    )


def test_user_id_falls_back_to_the_documented_field_name():
    raw = json.dumps({"user_id": 5, "is_approved": 1}).encode()
    user = verified_user(raw.decode(), hmac_sha256_hex(PARTNER, raw), PARTNER, True)
    assert user is not None
    assert (user.id, user.is_approved) == ("5", True)


@pytest.mark.parametrize(
    ("user_data", "signature", "required", "reason", "status"),
    [
        (None, None, True, "user_data_missing", 400),
        (None, "ab" * 32, False, "signature_without_user_data", 400),
        ("e30", None, True, "signature_missing", 400),
        (base64.b64encode(RAW).decode(), "0" * 64, True, "bad_signature", 403),
        (
            base64.b64encode(b"[1,2]").decode(),
            hmac_sha256_hex(PARTNER, b"[1,2]"),
            True,
            "user_data_not_json",
            400,
        ),
    ],
)
def test_incomplete_or_forged_user_data_is_refused(user_data, signature, required, reason, status):
    with pytest.raises(BadRedirect) as refused:
        verified_user(user_data, signature, PARTNER, required)
    assert (refused.value.reason, refused.value.status) == (reason, status)


def test_missing_user_data_is_allowed_when_not_required():
    assert verified_user(None, None, PARTNER, required=False) is None


def test_invisible_characters_that_reorder_text_are_taken_out_of_names():
    raw = json.dumps({"id": 1, "name": "Анна\u202eанмирС", "salon_name": "\u2066Салон\u200b\u2069"})
    user = parse_user(raw.encode())
    assert user.name == "АннаанмирС"
    assert user.salon_name == "Салон"
