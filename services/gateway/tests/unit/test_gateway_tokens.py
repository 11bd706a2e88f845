"""The onboarding token's signature, audience and expiry (revocation is checked against the
database in the integration tests)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from gateway import tokens

SECRET = "unit-test-jwt-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_a_token_decodes_to_its_connection():
    connection_id = uuid.uuid4()
    token, claims = tokens.encode(connection_id, SECRET, ttl_seconds=600)
    decoded = tokens.decode(token, SECRET)
    assert decoded.connection_id == connection_id
    assert decoded.jti == claims.jti
    assert timedelta(seconds=590) < decoded.expires_at - datetime.now(UTC) <= timedelta(seconds=600)


def _forge(**claims: object) -> str:
    base = {
        "sub": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "aud": "onboarding",
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (_forge(exp=int((datetime.now(UTC) - timedelta(seconds=5)).timestamp())), "expired"),
        (_forge(aud="admin"), "malformed"),
        (_forge(aud=None), "malformed"),
        (_forge(jti=None), "malformed"),
        (_forge(sub="not-a-uuid"), "malformed"),
        (
            jwt.encode(
                {"sub": "x"}, "another-secret-0123456789abcdef0123456789", algorithm="HS256"
            ),
            "malformed",
        ),
        ("not.a.jwt", "malformed"),
    ],
    ids=[
        "expired",
        "other-audience",
        "no-audience",
        "no-jti",
        "bad-sub",
        "other-secret",
        "garbage",
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token, reason):
    with pytest.raises(tokens.InvalidToken) as refused:
        tokens.decode(token, SECRET)
    assert refused.value.reason == reason


def test_a_tampered_payload_breaks_the_signature():
    token, _ = tokens.encode(uuid.uuid4(), SECRET, ttl_seconds=600)
    header, _payload, signature = token.split(".")
    other, _ = tokens.encode(uuid.uuid4(), SECRET, ttl_seconds=600)
    tampered = f"{header}.{other.split('.')[1]}.{signature}"
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(tampered, SECRET)


def test_the_none_algorithm_is_refused():
    unsigned = jwt.encode(
        {"sub": str(uuid.uuid4()), "jti": str(uuid.uuid4()), "aud": "onboarding", "exp": 2**31},
        key=None,
        algorithm="none",
    )
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(unsigned, SECRET)
