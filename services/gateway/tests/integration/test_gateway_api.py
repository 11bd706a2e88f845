"""``/marketplace/api/``: a token reaches only its own connection; every refusal is JSON 4xx."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import jwt
import pytest
from sqlalchemy import update

from shared.messages import Envelope
from shared.models import MarketplaceToken, WaSession
from testkit.environment import TEST_SECRETS
from testkit.processes import eventually

JWT_SECRET = TEST_SECRETS["JWT_SECRET"]


async def _call(
    method: str, url: str, token: str | None = None, **kwargs: Any
) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, headers=headers, allow_redirects=False, **kwargs) as response,
    ):
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, dict(response.headers), body


async def _onboard(gateway, salon_ids: list[int]) -> tuple[str, str]:
    """Go through the redirect; returns (token, connection id)."""
    status, headers, _ = await _call("GET", gateway.redirect_url(salon_ids))
    assert status == 302
    token = gateway.token_from(headers["Location"])
    return token, jwt.decode(token, options={"verify_signature": False})["sub"]


@pytest.fixture
async def onboarded(gateway, new_salons) -> tuple[str, str]:
    return await _onboard(gateway, new_salons(2))


async def test_status_of_its_own_connection(gateway, onboarded):
    token, connection_id = onboarded
    status, headers, body = await _call(
        "GET", f"{gateway.url}/marketplace/api/status/{connection_id}", token
    )
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert body["sessionId"] == connection_id
    assert body["stage"] == "waiting"
    assert body["whatsapp"]["state"] == "stopped"
    assert [salon["status"] for salon in body["salons"]] == ["pending", "pending"]


async def test_a_token_never_reaches_another_connection(gateway, onboarded, new_salons):
    token, _ = onboarded
    _, other_connection = await _onboard(gateway, new_salons(1))
    status, _, body = await _call(
        "GET", f"{gateway.url}/marketplace/api/status/{other_connection}", token
    )
    assert status == 403
    assert body["error"] == "forbidden"
    assert body["message"]


def _forged(connection_id: str, **claims: Any) -> str:
    payload = {
        "sub": connection_id,
        "jti": str(uuid.uuid4()),
        "aud": "onboarding",
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
        **claims,
    }
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    "bad_token",
    ["missing", "garbage", "other-secret", "expired", "unrecorded", "tampered", "admin-audience"],
)
async def test_bad_tokens_are_refused_with_401(gateway, onboarded, bad_token):
    token, connection_id = onboarded
    header, _payload, signature = token.split(".")
    real_jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    tokens = {
        "missing": None,
        "garbage": "not-a-token",
        "other-secret": jwt.encode(
            {"sub": connection_id, "jti": real_jti, "aud": "onboarding", "exp": 2**31},
            "an-attacker-secret-0123456789abcdef0123",
            algorithm="HS256",
        ),
        "expired": _forged(
            connection_id, jti=real_jti, exp=int(datetime.now(UTC).timestamp()) - 10
        ),
        # Signed right, but never issued: no marketplace_tokens row.
        "unrecorded": _forged(connection_id),
        "tampered": f"{header}.{_forged(str(uuid.uuid4())).split('.')[1]}.{signature}",
        "admin-audience": _forged(connection_id, jti=real_jti, aud="admin"),
    }
    for method, path in (
        ("GET", f"/marketplace/api/status/{connection_id}"),
        ("POST", "/marketplace/api/qr"),
        ("POST", "/marketplace/api/activate"),
    ):
        status, _, body = await _call(method, f"{gateway.url}{path}", tokens[bad_token])
        assert status == 401, (bad_token, path)
        assert body["error"].startswith("token_")
        assert "YClients" in body["message"]


async def test_a_revoked_token_is_refused(gateway, database, onboarded):
    token, connection_id = onboarded
    jti = uuid.UUID(jwt.decode(token, options={"verify_signature": False})["jti"])
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            update(MarketplaceToken)
            .where(MarketplaceToken.jti == jti)
            .values(revoked_at=datetime.now(UTC))
        )
        await uow.commit()
    status, _, body = await _call(
        "GET", f"{gateway.url}/marketplace/api/status/{connection_id}", token
    )
    assert (status, body["error"]) == (401, "token_revoked")


async def test_a_malformed_session_id_is_a_400(gateway, onboarded):
    token, _ = onboarded
    status, _, body = await _call("GET", f"{gateway.url}/marketplace/api/status/abc", token)
    assert (status, body["error"]) == (400, "bad_session_id")


async def _next_command(queue, connection_id: str) -> Envelope:
    async def probe() -> Envelope | None:
        message = await queue.get(fail=False, no_ack=True)
        if message is None:
            return None
        envelope = Envelope.from_bytes(message.body)
        return envelope if envelope.correlation_id == connection_id else None

    return await eventually(probe, timeout=10)


async def test_qr_request_sends_start_session(gateway, onboarded, command_tap):
    token, connection_id = onboarded
    status, _, body = await _call("POST", f"{gateway.url}/marketplace/api/qr", token)
    assert (status, body) == (202, {"sessionId": connection_id, "mode": "qr"})
    command = await _next_command(command_tap, connection_id)
    assert command.type == "wa.session.start"
    assert {key: command.payload[key] for key in ("session_id", "pairing_phone")} == {
        "session_id": connection_id,
        "pairing_phone": None,
    }
    assert command.payload["requested_at"]  # so that a later stop is not undone by it


async def test_qr_request_with_a_phone_asks_for_a_pairing_code(gateway, onboarded, command_tap):
    token, connection_id = onboarded
    status, _, body = await _call(
        "POST", f"{gateway.url}/marketplace/api/qr", token, json={"phone": "+7 (999) 123-45-67"}
    )
    assert (status, body["mode"]) == (202, "pairing_code")
    command = await _next_command(command_tap, connection_id)
    assert command.payload["pairing_phone"] == "79991234567"


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"json": {"phone": "12"}}, 422, "bad_phone"),
        ({"json": {"phone": 79991234567}}, 422, "bad_phone"),
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "bad_json"),
        ({"json": [1, 2]}, 400, "bad_json"),
    ],
    ids=["short-phone", "number-not-string", "broken-json", "json-array"],
)
async def test_bad_qr_requests_are_refused(gateway, onboarded, kwargs, status, error):
    token, _ = onboarded
    code, _, body = await _call("POST", f"{gateway.url}/marketplace/api/qr", token, **kwargs)
    assert (code, body["error"]) == (status, error)
    assert body["message"]


async def test_a_connection_asking_for_qr_codes_in_a_loop_is_refused_with_429(
    gateway, onboarded, new_salons, command_tap
):
    token, connection_id = onboarded
    answers = [await _call("POST", f"{gateway.url}/marketplace/api/qr", token) for _ in range(6)]
    assert [status for status, _, _ in answers] == [202] * 5 + [429]
    refusal = answers[-1][2]
    assert refusal["error"] == "too_many_qr_requests"
    assert "Подождите минуту" in refusal["message"]
    for _ in range(5):  # one login start per accepted request, none for the refused one
        assert (await _next_command(command_tap, connection_id)).type == "wa.session.start"
    another_token, _ = await _onboard(gateway, new_salons(1))
    status, _, _ = await _call("POST", f"{gateway.url}/marketplace/api/qr", another_token)
    assert status == 202  # the limit is per connection


async def test_activation_waits_for_whatsapp(gateway, database, onboarded, command_tap):
    token, connection_id = onboarded
    status, _, body = await _call("POST", f"{gateway.url}/marketplace/api/activate", token)
    assert (status, body["error"]) == (409, "whatsapp_not_connected")
    assert "WhatsApp" in body["message"]

    async with database.unit_of_work() as uow:
        uow.session.add(WaSession(id=uuid.UUID(connection_id), state="connected"))
        await uow.commit()
    status, _, _ = await _call("POST", f"{gateway.url}/marketplace/api/activate", token)
    assert status == 202
    command = await _next_command(command_tap, connection_id)
    assert command.type == "activation.retry"
    assert command.payload == {"connection_id": connection_id}


async def test_the_openapi_document_describes_the_api(gateway):
    status, _, body = await _call("GET", f"{gateway.url}/marketplace/api/openapi.json")
    assert status == 200
    assert body["openapi"].startswith("3.")
    assert set(body["paths"]) == {"/qr", "/status/{sessionId}", "/activate"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/marketplace/api/nothing", 404), ("GET", "/marketplace/api/qr", 405)],
)
async def test_unknown_api_calls_answer_json(gateway, method, path, status):
    code, _, body = await _call(method, f"{gateway.url}{path}")
    assert code == status
    assert body["error"] in ("not_found", "method_not_allowed")


async def test_pairing_codes_are_limited_per_connection_and_per_target_number(gateway, new_salons):
    # Anyone with a page could otherwise have WhatsApp text codes to any number in the world.
    target = {"phone": f"7999{random.randint(10**6, 10**7 - 1)}"}
    token, _ = await _onboard(gateway, new_salons(1))
    answers = [
        (await _call("POST", f"{gateway.url}/marketplace/api/qr", token, json=target))[0]
        for _ in range(4)
    ]
    assert answers == [202, 202, 202, 429]  # PAIRING_CODES_PER_CONNECTION = 3

    other, _ = await _onboard(gateway, new_salons(1))
    status, headers, body = await _call(
        "POST", f"{gateway.url}/marketplace/api/qr", other, json=target
    )
    assert status == 429  # PAIRING_CODES_PER_PHONE = 3 for that number, whoever asks
    assert body["error"] == "too_many_qr_requests" and int(headers["Retry-After"]) > 60
    assert (await _call("POST", f"{gateway.url}/marketplace/api/qr", other))[
        0
    ] == 202  # a QR is fine
