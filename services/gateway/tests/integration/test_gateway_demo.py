"""The offline demo's scan button: only with DEMO_PHONE_URL, only the token's own connection's
QR, handed to the real WhatsApp emulator; never the QR string in the logs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import jwt
import pytest

from shared.messages import QrIssued
from testkit.processes import Process, eventually, free_port, python_module, wait_http_ok
from testkit.system import WhatsAppEmulator, start_whatsapp_emulator

SCAN = "/marketplace/api/demo/scan"


@pytest.fixture(scope="module")
def emulator() -> Iterator[WhatsAppEmulator]:
    emulator = start_whatsapp_emulator(refs=2)
    yield emulator
    emulator.process.stop()


@dataclass
class DemoGateway:
    url: str
    process: Process
    redirect_url: Callable[[list[int]], str]
    token_from: Callable[[str], str]


@pytest.fixture(scope="module")
async def demo_gateway(test_env, emulator, gateway, yclients) -> AsyncIterator[DemoGateway]:
    port = free_port()
    env = test_env.env(
        HTTP_PORT=str(port),
        INSTANCE_ID="gateway-demo",
        DEMO_PHONE_URL=emulator.control_url,
        YCLIENTS_BASE_URL=yclients.url,
    )
    process = python_module("gateway-demo", "gateway", env)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_http_ok(f"{url}/readyz", timeout=30, process=process)
        # The same signed redirect YClients would build, pointed at this instance.
        yield DemoGateway(
            url,
            process,
            lambda salons: gateway.redirect_url(salons).replace(gateway.url, url, 1),
            gateway.token_from,
        )
    finally:
        process.stop()


async def _request(method: str, url: str, token: str | None = None) -> tuple[int, str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, headers=headers, allow_redirects=False) as response,
    ):
        text = await response.text()
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, text, body


async def _onboard(gateway, salon_ids: list[int]) -> tuple[str, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(gateway.redirect_url(salon_ids), allow_redirects=False) as response,
    ):
        assert response.status == 302
        token = gateway.token_from(response.headers["Location"])
    return token, jwt.decode(token, options={"verify_signature": False})["sub"]


async def test_without_demo_phone_there_is_no_button_and_no_route(gateway, new_salons):
    token, _ = await _onboard(gateway, new_salons(1))
    status, _, body = await _request("POST", f"{gateway.url}{SCAN}", token)
    assert status == 404
    assert body["error"] == "not_found"
    status, page, _ = await _request("GET", f"{gateway.url}/marketplace/onboarding")
    assert status == 200
    assert "demo-scan" not in page and "Демо" not in page


async def test_the_page_shows_the_demo_button(demo_gateway):
    status, page, _ = await _request("GET", f"{demo_gateway.url}/marketplace/onboarding")
    assert status == 200
    assert 'data-action="demo-scan"' in page
    assert "Демо: отсканировать эмулятором телефона" in page


async def test_scan_needs_a_token(demo_gateway):
    status, _, body = await _request("POST", f"{demo_gateway.url}{SCAN}")
    assert status == 401
    assert body["error"] == "token_missing"


async def test_a_token_scans_only_its_own_connections_qr(demo_gateway, publisher, new_salons):
    token_a, _ = await _onboard(demo_gateway, new_salons(1))
    token_b, connection_b = await _onboard(demo_gateway, new_salons(1))
    secret_qr = f"2@demo-secret-{connection_b},key,key,key"
    await publisher.send(
        QrIssued(
            session_id=connection_b,
            qr=secret_qr,
            index=0,
            expires_at=datetime.now(UTC) + timedelta(seconds=20),
        ),
        connection_b,
    )

    async def b_reaches_the_phone() -> bool:
        status, _, body = await _request("POST", f"{demo_gateway.url}{SCAN}", token_b)
        # The emulator does not know this string (no bridge showed it): it reached the phone.
        return status == 409 and body["error"] == "qr_outdated"

    await eventually(b_reaches_the_phone, timeout=10)

    status, _, body = await _request("POST", f"{demo_gateway.url}{SCAN}", token_a)
    assert status == 409
    assert body["error"] == "no_qr_yet"
    assert body["message"]
    assert secret_qr not in demo_gateway.process.logs()
