"""Socket.IO namespace ``/marketplace``: token at connect, one room per connection, bus events
relayed to the browser across gateway instances."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
import pytest
import socketio

from shared.messages import (
    ActivationCompleted,
    ActivationFailed,
    Envelope,
    PairingCodeIssued,
    Payload,
    QrIssued,
    SessionFailed,
    SessionLoggedOut,
    SessionStateChanged,
)
from testkit.processes import eventually

NAMESPACE = "/marketplace"


async def _onboard(gateway, salon_ids: list[int]) -> tuple[str, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(gateway.redirect_url(salon_ids), allow_redirects=False) as response,
    ):
        assert response.status == 302
        token = gateway.token_from(response.headers["Location"])
    return token, jwt.decode(token, options={"verify_signature": False})["sub"]


def _qr(connection_id: str, index: int) -> QrIssued:
    return QrIssued(
        session_id=connection_id,
        qr=f"2@secret-qr-{connection_id}-{index},key,key,key",
        index=index,
        expires_at=datetime.now(UTC) + timedelta(seconds=20),
    )


async def test_connect_puts_the_browser_in_its_room_and_sends_the_status(
    gateway, browsers, new_salons
):
    token, connection_id = await _onboard(gateway, new_salons(2))
    browser = browsers()
    await browser.connect(gateway.url, token)
    (status,) = await browser.wait_for("status")
    assert status["sessionId"] == connection_id
    assert status["stage"] == "waiting"
    assert len(status["salons"]) == 2


@pytest.mark.parametrize("bad", ["none", "garbage", "expired", "other-secret"])
async def test_bad_tokens_are_refused_at_connect(gateway, browsers, new_salons, bad):
    token, _ = await _onboard(gateway, new_salons(1))
    claims = jwt.decode(token, options={"verify_signature": False})
    tokens = {
        "none": None,
        "garbage": "garbage",
        "expired": jwt.encode(
            {**claims, "exp": int(datetime.now(UTC).timestamp()) - 5},
            "test-jwt-5c1f0e2a9b7d4c3e8f6a1b2c3d4e5f60718293a4",
            algorithm="HS256",
        ),
        "other-secret": jwt.encode(claims, "attacker-secret-0123456789abcdef01", algorithm="HS256"),
    }
    browser = browsers()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await browser.connect(gateway.url, tokens[bad])
    assert not browser.client.connected
    (refusal,) = await browser.wait_for("connect_error")
    assert refusal["message"].endswith("нажмите «Подключить» ещё раз.")
    assert refusal["data"]["code"].startswith("token_")


async def test_a_socket_from_a_foreign_origin_is_refused(gateway, browsers, new_salons):
    token, _ = await _onboard(gateway, new_salons(1))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await browsers().connect(gateway.url, token, origin="https://evil.example")
    page_origin = browsers()
    await page_origin.connect(gateway.url, token, origin=gateway.url)
    await page_origin.wait_for("status")


async def test_request_qr_sends_start_session(gateway, browsers, new_salons, command_tap):
    token, connection_id = await _onboard(gateway, new_salons(1))
    browser = browsers()
    await browser.connect(gateway.url, token)
    await browser.client.emit("request-qr", {"phone": "79990001122"}, namespace=NAMESPACE)

    async def probe() -> Envelope | None:
        message = await command_tap.get(fail=False, no_ack=True)
        envelope = Envelope.from_bytes(message.body) if message else None
        return envelope if envelope and envelope.correlation_id == connection_id else None

    command = await eventually(probe, timeout=10)
    assert (command.payload["session_id"], command.payload["pairing_phone"]) == (
        connection_id,
        "79990001122",
    )

    await browser.client.emit("request-qr", {"phone": "12"}, namespace=NAMESPACE)
    (error,) = await browser.wait_for("error")
    assert error["code"] == "bad_phone"


async def test_a_qr_on_the_bus_reaches_the_browser_on_another_instance(
    gateway, second_gateway, browsers, new_salons, publisher
):
    token, connection_id = await _onboard(gateway, new_salons(2))
    other_token, _ = await _onboard(gateway, new_salons(1))
    browser = browsers()
    await browser.connect(gateway.url, token)
    bystander = browsers()  # another connection's browser, on the other instance
    await bystander.connect(second_gateway.url, other_token)
    await bystander.wait_for("status")

    # The instances' Socket.IO listeners bind their queues in the background at start: publish
    # until the first QR gets through, then count.
    async def first_arrives() -> bool:
        await publisher.send(_qr(connection_id, 0), connection_id)
        await asyncio.sleep(0.2)
        return bool(browser.received.get("qr"))

    await eventually(first_arrives, timeout=15, interval=0)
    before = len(browser.received["qr"])
    for index in range(1, 21):
        await publisher.send(_qr(connection_id, index), connection_id)
    qrs = await browser.wait_for("qr", count=before + 20)
    indexes = {qr["index"] for qr in qrs}
    assert set(range(1, 21)) <= indexes

    qr = qrs[-1]
    assert qr["image"].startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(qr["image"].split(",", 1)[1]).decode()
    assert svg.startswith("<svg") or svg.startswith("<?xml")
    assert "secret-qr" not in svg  # rendered, not the raw string
    assert datetime.fromisoformat(qr["expiresAt"]) > datetime.now(UTC)

    # Both instances consume the relay queue, so some of these went through B's consumer and
    # B's Socket.IO emit to the browser held by A.
    assert '"relayed"' in second_gateway.process.logs()
    assert "qr" not in bystander.received
    for process in (gateway.process, second_gateway.process):
        assert "secret-qr" not in process.logs()
        assert token not in process.logs()


async def test_activation_completed_tells_the_browser_it_is_done(
    gateway, browsers, new_salons, publisher
):
    salon_ids = new_salons(2)
    token, connection_id = await _onboard(gateway, salon_ids)
    browser = browsers()
    await browser.connect(gateway.url, token)
    await browser.wait_for("status")

    async def done() -> bool:
        await publisher.send(
            ActivationCompleted(connection_id=connection_id, salon_ids=salon_ids), connection_id
        )
        await asyncio.sleep(0.2)
        return bool(browser.received.get("connected"))

    await eventually(done, timeout=15, interval=0)
    assert browser.received["connected"][0] == {"salonIds": salon_ids}
    statuses = await browser.wait_for("status", count=2)
    assert statuses[-1]["stage"] == "done"
    assert uuid.UUID(connection_id)


RELAYED = [
    (
        lambda c: PairingCodeIssued(session_id=c, code="ABCD1234"),
        "pairing-code",
        {"code": "ABCD1234"},
    ),
    (
        lambda c: SessionStateChanged(session_id=c, state="qr_expired", seq=3),
        "status",
        {"whatsapp": {"state": "qr_expired", "reason": None, "retryInSeconds": None}},
    ),
    (
        lambda c: SessionLoggedOut(session_id=c, reason="logged_out"),
        "error",
        {"code": "logged_out", "action": "request-qr"},
    ),
    (
        lambda c: SessionFailed(session_id=c, reason="bridge_crashed", message="exit 1"),
        "error",
        {"code": "bridge_crashed", "action": "request-qr"},
    ),
    (
        lambda c: SessionFailed(session_id=c, reason="passkey_required", message="passkey"),
        "error",
        {"code": "passkey_required", "action": "show-phone"},
    ),
    (
        lambda c: SessionFailed(session_id=c, reason="client_too_old", message="405"),
        "error",
        {"code": "client_too_old", "action": "request-qr"},
    ),
    (
        lambda c: QrIssued(
            session_id=c,
            qr="2@ref,key,key,fresh-secret",
            index=2,
            expires_at=datetime.now(UTC) + timedelta(seconds=10),
            refresh=True,
        ),
        "qr",
        {"index": 2, "refresh": True},
    ),
    (
        lambda c: ActivationFailed(
            connection_id=c,
            reason="window_expired",
            message="Истёк час на подключение.",
            retryable=False,
        ),
        "error",
        {"code": "window_expired", "message": "Истёк час на подключение.", "action": "restart"},
    ),
]


@pytest.mark.parametrize(
    ("make", "event", "expected"), RELAYED, ids=[r[1] + "-" + str(i) for i, r in enumerate(RELAYED)]
)
async def test_every_session_and_activation_event_is_relayed(
    gateway, browsers, new_salons, publisher, make, event, expected
):
    token, connection_id = await _onboard(gateway, new_salons(1))
    browser = browsers()
    await browser.connect(gateway.url, token)
    await browser.wait_for("status")
    payload: Payload = make(connection_id)
    before = len(browser.received.get(event, []))

    async def arrived() -> bool:
        await publisher.send(payload, connection_id)
        await asyncio.sleep(0.2)
        return len(browser.received.get(event, [])) > before

    await eventually(arrived, timeout=15, interval=0)
    data = browser.received[event][-1]
    assert {key: data[key] for key in expected} == expected
    if event == "error":
        assert data["message"]  # always a sentence the page can show
        assert "exit 1" not in data["message"]  # internal details stay internal
