"""A salon admin onboarding through the running system, for end-to-end tests that need connected
salons: the redirect YClients opens after «Подключить», the page asking for a QR, the salon's
phone scanning it (as today's WhatsApp wants it: again after a refused first scan), and the
activation that follows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import aio_pika
import aiohttp
import jwt
from yclients_sandbox.testing import RunningSandbox

from shared.messages import ActivationCompleted, Envelope, QrIssued
from testkit.processes import eventually
from testkit.system import RunningSystem, WhatsAppEmulator


@dataclass(frozen=True)
class Onboarded:
    connection_id: str
    token: str
    # The WhatsApp number the salon's phone linked.
    phone: str


async def onboard(
    system: RunningSystem,
    sandbox: RunningSandbox,
    emulator: WhatsAppEmulator,
    salon_ids: list[int],
    phone: str | None = None,
    timeout: float = 60,
) -> Onboarded:
    """Connect ``salon_ids`` to a WhatsApp login (``phone``'s, or a new number) and wait until
    activation completed."""
    gateway = system.urls["gateway"]
    query = urlsplit(await sandbox.control.consent(salon_ids)).query
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{gateway}/auth/yclients/redirect?{query}", allow_redirects=False) as response,
    ):
        assert response.status == 302, await response.text()
        token = parse_qs(urlsplit(response.headers["Location"]).fragment)["token"][0]
    connection_id = str(jwt.decode(token, options={"verify_signature": False})["sub"])

    connection = await aio_pika.connect(system.env["AMQP_URL"])
    try:
        channel = await connection.channel()
        events = await channel.declare_queue(exclusive=True)
        for key in (QrIssued.message_type, ActivationCompleted.message_type):
            await events.bind("aiadmin.events", key)
        shown: list[str] = []
        completed = asyncio.Event()

        async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                envelope = Envelope.from_bytes(message.body)
                if envelope.correlation_id != connection_id:
                    return
                if envelope.type == QrIssued.message_type:
                    shown.append(envelope.parse(QrIssued).qr)
                else:
                    completed.set()

        await events.consume(on_event)
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{gateway}/marketplace/api/qr", headers={"Authorization": f"Bearer {token}"}
            ) as response,
        ):
            assert response.status == 202, await response.text()

        async def qr_on_screen() -> str:
            await eventually(lambda: _some(shown), timeout=timeout)
            return shown[-1]

        linked = await emulator.scan_until_linked(qr_on_screen, phone=phone)
        await asyncio.wait_for(completed.wait(), timeout)
    finally:
        await connection.close()
    return Onboarded(connection_id, token, str(linked["phone"]))


async def _some(items: list[str]) -> bool:
    return bool(items)
