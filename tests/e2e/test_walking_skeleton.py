"""One onboarding through all four services as separate processes, on the real RabbitMQ and
PostgreSQL, with the real Baileys bridge logging in to the WhatsApp emulator.

The phone scans the QR string as it travels on the bus; the browser-level test (gateway) scans
the rendered image instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import parse_qs, urlsplit

import aio_pika
import aiohttp
import jwt
import socketio
from sqlalchemy import select

from shared.db import Database
from shared.messages import Envelope, QrIssued
from shared.models import Company, IntegrationStatus
from testkit.environment import TestEnvironment
from testkit.processes import eventually
from testkit.system import RunningSystem, WhatsAppEmulator, log_tail

SALONS = [101, 102]


async def test_redirect_to_active_salons(
    system: RunningSystem,
    sandbox,  # type: ignore[no-untyped-def]
    emulator: WhatsAppEmulator,
    database: Database,
    test_env: TestEnvironment,
) -> None:
    # The admin picked two salons in YClients and clicked «Подключить».
    redirect_url = await sandbox.control.consent(SALONS)
    query = urlsplit(redirect_url).query
    gateway = system.urls["gateway"]
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{gateway}/auth/yclients/redirect?{query}", allow_redirects=False) as response,
    ):
        assert response.status == 302, await response.text()
        location = response.headers["Location"]
    token = parse_qs(urlsplit(location).fragment)["token"][0]

    # Watch the QR strings on the bus, as the emulated phone's camera would see them on screen.
    connection = await aio_pika.connect(test_env.amqp_url)
    channel = await connection.channel()
    qr_queue = await channel.declare_queue(exclusive=True)
    await qr_queue.bind("aiadmin.events", "wa.session.qr")

    browser = socketio.AsyncClient()
    received: dict[str, list[dict[str, object]]] = {"qr": [], "connected": [], "status": []}
    for event in received:
        browser.on(event, namespace="/marketplace", handler=_collector(received[event]))
    await browser.connect(
        gateway, namespaces=["/marketplace"], auth={"token": token}, transports=["websocket"]
    )
    try:
        await browser.emit("request-qr", {}, namespace="/marketplace")
        shown: list[str] = []

        async def qr_on_screen() -> str:
            """The newest QR string on the bus: what the page shows now."""
            if not shown:
                first = await eventually(lambda: qr_queue.get(fail=False), timeout=40)
                shown.append(Envelope.from_bytes(first.body).parse(QrIssued).qr)
            while (message := await qr_queue.get(fail=False)) is not None:
                shown.append(Envelope.from_bytes(message.body).parse(QrIssued).qr)
            return shown[-1]

        await qr_on_screen()
        await eventually(lambda: _truthy(received["qr"]), timeout=10)
        await emulator.scan_until_linked(qr_on_screen)

        await eventually(lambda: _truthy(received["connected"]), timeout=60)
        installs = await eventually(lambda: _successful_installs(sandbox), timeout=30)
        assert sorted(call["body"]["salon_id"] for call in installs) == SALONS
        async with database.unit_of_work() as uow:
            companies = (
                await uow.session.execute(
                    select(Company.integration_status, Company.whatsapp_phone).where(
                        Company.id.in_(SALONS)
                    )
                )
            ).all()
        assert {status for status, _ in companies} == {IntegrationStatus.ACTIVE}
        assert all(phone for _, phone in companies)

        # One correlation id, the connection's, follows the onboarding through every service.
        connection_id = jwt.decode(token, options={"verify_signature": False})["sub"]
        for service in ("gateway", "wa-session", "activation"):
            assert _logged_with(system, service, connection_id), service

        # What the operators watch: installs by outcome, requests by route, events in, queue lag.
        activation_metrics = await _metrics(system, "activation")
        assert 'activation_installs_total{outcome="installed"} 2.0' in activation_metrics
        assert 'aiadmin_message_lag_seconds_count{queue="activation.inbox"}' in activation_metrics
        gateway_metrics = await _metrics(system, "gateway")
        assert (
            'aiadmin_http_requests_total{method="GET",route="/auth/yclients/redirect",'
            'status="302"} 1.0' in gateway_metrics
        )
        assert 'aiadmin_messages_consumed_total{outcome="handled",queue="gateway.relay"' in (
            gateway_metrics
        )
    except (TimeoutError, AssertionError):
        print(log_tail(system))
        raise
    finally:
        await browser.disconnect()
        await connection.close()


async def _metrics(system: RunningSystem, service: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{system.urls[service]}/metrics") as r:
        return await r.text()


def _logged_with(system: RunningSystem, service: str, correlation_id: str) -> bool:
    for line in system.processes[service].logs().splitlines():
        with contextlib.suppress(ValueError):
            if json.loads(line).get("correlation_id") == correlation_id:
                return True
    return False


def _collector(into: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    async def collect(data: dict[str, object] | None = None) -> None:
        into.append(data or {})

    return collect


async def _truthy(value: object) -> object:
    await asyncio.sleep(0)
    return value


async def _successful_installs(sandbox) -> list[dict]:  # type: ignore[no-untyped-def]
    calls = await sandbox.control.calls("/marketplace/partner/callback")
    ok = [call for call in calls if call["status"] == 201]
    return ok if len(ok) >= len(SALONS) else []
