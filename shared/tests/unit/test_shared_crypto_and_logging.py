import base64
import os

import pytest
from cryptography.exceptions import InvalidTag

from shared.crypto import Keyring, constant_time_equals, hash_api_key, hmac_sha256_hex
from shared.logging import REDACTED, Sampled, redact
from shared.messages import EntityReceived, Envelope, SessionConnected


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_ciphertext_is_bound_to_its_associated_data() -> None:
    ring = Keyring.parse(f"v1:{_key()}")
    version, nonce, ciphertext = ring.encrypt(b"creds", b"session-1/creds/")
    assert ring.decrypt(version, nonce, ciphertext, b"session-1/creds/") == b"creds"
    with pytest.raises(InvalidTag):
        ring.decrypt(version, nonce, ciphertext, b"session-2/creds/")


def test_rotated_keyring_encrypts_with_the_first_and_decrypts_with_all() -> None:
    old_spec = f"v1:{_key()}"
    sealed = Keyring.parse(old_spec).encrypt(b"x", b"ad")
    rotated = Keyring.parse(f"v2:{_key()},{old_spec}")
    assert rotated.current == "v2"
    assert rotated.decrypt(*sealed, b"ad") == b"x"


def test_keyring_refuses_bad_keys() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Keyring.parse("v1:" + base64.b64encode(b"short").decode())


def test_hashes_and_comparisons() -> None:
    assert hash_api_key("k") == hash_api_key("k") != hash_api_key("j")
    assert constant_time_equals("a", b"a") and not constant_time_equals("a", "b")
    assert len(hmac_sha256_hex("key", b"data")) == 64


def test_redaction_by_key_and_by_value() -> None:
    event = redact(
        {
            "partner_token": "abc",
            "headers": {"Authorization": "Bearer xyz"},
            "note": "got Bearer abc.def and eyJhbGciOi.eyJzdWIi.sig",
        }
    )
    assert event["partner_token"] == REDACTED
    assert event["headers"]["Authorization"] == REDACTED
    assert "abc.def" not in event["note"] and "eyJzdWIi" not in event["note"]


def test_webhook_secrets_in_paths_are_redacted_under_any_key() -> None:
    event = redact(
        {"where": "POST /callback/yclients/s3cr3t-Value_1?x=1", "plain": "/callback/yclients"}
    )
    assert event["where"] == f"POST /callback/yclients/{REDACTED}?x=1"
    assert event["plain"] == "/callback/yclients"


def test_envelope_round_trip_and_routing_keys() -> None:
    envelope = Envelope.wrap(SessionConnected(session_id="s", phone="7999"), "conn-1")
    again = Envelope.from_bytes(envelope.to_bytes())
    assert again == envelope
    assert again.parse(SessionConnected).phone == "7999"
    entity = EntityReceived(
        dedup_key="k",
        company_id=1,
        resource="Record.#*",
        resource_id=2,
        status="create",
        received_at="2026-01-01T00:00:00Z",
        body={},
    )
    assert entity.routing_key() == "yclients.entity.record___.create"


def test_a_flood_is_logged_as_a_sample_and_the_rest_counted() -> None:
    now = [0.0]
    sampled = Sampled(per_window=3, window_seconds=60, clock=lambda: now[0])
    lines: list[tuple[str, dict[str, object]]] = []

    def record(event: str, **fields: object) -> None:
        lines.append((event, fields))

    for _ in range(10):
        sampled.log(record, "refused", status=403)
    now[0] = 61
    sampled.log(record, "refused", status=403)
    assert len(lines) == 4
    assert lines[-1] == ("refused", {"status": 403, "left_out_before": 7})
