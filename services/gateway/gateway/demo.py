"""The offline demo's phone: a button under the QR that has the WhatsApp emulator scan it.

The QR string carries a secret only the page's client knows, so the emulated phone can pair
only with the exact string shown. With ``DEMO_PHONE_URL`` set (never in production) the gateway
keeps the latest QR string of each connection in memory, from the events on the bus,
and hands it to the emulator's ``/scan`` when the admin clicks «Демо: отсканировать эмулятором
телефона». Without it none of this exists: no button, no route, nothing remembered.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from gateway.api import connection_of
from gateway.context import SETTINGS
from shared.bus import listen
from shared.messages import Envelope, QrIssued, SessionConnected
from shared.refusals import Refusal
from shared.runtime import INFRA, background_ctx

log = structlog.get_logger(__name__)

SCAN_BUTTON = (
    '<button type="button" class="demo" data-action="demo-scan">'
    "Демо: отсканировать эмулятором телефона</button>"
    '<p class="demo-note" id="demo-scan-result" hidden></p>'
)
# The emulator answers /scan once the companion has signed, a second or two.
SCAN_TIMEOUT = aiohttp.ClientTimeout(total=15)
# How long (in tenths of a second) the demo phone waits for the re-rendered QR after a refusal.
RESCAN_WAIT_STEPS = 50


class LatestQr:
    """The QR string on each connection's screen; gone once WhatsApp is linked.

    Its own exclusive queue, not the shared relay queue: every gateway instance sees every QR,
    so the click works whichever instance the browser reaches.
    """

    def __init__(self) -> None:
        self._by_connection: dict[str, str] = {}

    def get(self, connection_id: uuid.UUID) -> str | None:
        return self._by_connection.get(str(connection_id))

    async def _on_envelope(self, envelope: Envelope) -> None:
        if envelope.type == QrIssued.message_type:
            qr = envelope.parse(QrIssued)
            self._by_connection[qr.session_id] = qr.qr
        elif envelope.type == SessionConnected.message_type:
            self._by_connection.pop(envelope.parse(SessionConnected).session_id, None)

    async def start(self, app: web.Application) -> Callable[[], Awaitable[None]]:
        keys = (QrIssued.message_type, SessionConnected.message_type)
        return await listen(app[INFRA].connection, keys, self._on_envelope)


LATEST_QR = web.AppKey("demo_latest_qr", LatestQr)


class ScanRefused(Exception):
    """The emulated phone said "Couldn't link device": WhatsApp retired the QR's secret."""


async def _scan(phone_url: str, qr: str) -> dict[str, Any]:
    try:
        async with (
            aiohttp.ClientSession(timeout=SCAN_TIMEOUT) as http,
            http.post(f"{phone_url.rstrip('/')}/scan", json={"qr": qr}) as response,
        ):
            status = response.status
    except (aiohttp.ClientError, TimeoutError):
        raise Refusal(
            502, "demo_phone_unreachable", "Эмулятор телефона не отвечает. Он запущен?"
        ) from None
    if status == 404:
        raise Refusal(
            409, "qr_outdated", "Этот QR-код уже сменился. Дождитесь нового и нажмите ещё раз."
        )
    if status == 409:
        raise ScanRefused()
    if status >= 400:
        raise Refusal(502, "demo_phone_refused", f"Эмулятор телефона отказал (HTTP {status}).")
    return {"scanned": True}


async def _scan_like_an_admin(
    latest: LatestQr, connection_id: uuid.UUID, phone_url: str, qr: str
) -> dict[str, Any]:
    """Today's WhatsApp refuses the first scan of a QR and the page shows it re-rendered; an
    admin scans again, and so does the demo phone (within a few seconds)."""
    try:
        return await _scan(phone_url, qr)
    except ScanRefused:
        pass
    for _ in range(RESCAN_WAIT_STEPS):
        await asyncio.sleep(0.1)
        fresh = latest.get(connection_id)
        if fresh is not None and fresh != qr:
            with contextlib.suppress(ScanRefused):
                return await _scan(phone_url, fresh)
            break
    raise Refusal(
        409,
        "link_refused",
        "Телефон: «Не удалось связать устройство». Дождитесь нового QR-кода и нажмите ещё раз.",
    )


async def post_demo_scan(request: web.Request) -> web.Response:
    connection_id = await connection_of(request)
    qr = request.app[LATEST_QR].get(connection_id)
    if qr is None:
        raise Refusal(409, "no_qr_yet", "QR-код ещё не готов. Подождите пару секунд.")
    phone_url = str(request.app[SETTINGS].demo_phone_url)
    body = await _scan_like_an_admin(request.app[LATEST_QR], connection_id, phone_url, qr)
    # Never the QR string itself: it is a credential while it is on screen.
    log.info("demo scan", connection_id=str(connection_id))
    return web.json_response(body)


def add_demo(app: web.Application) -> None:
    """The scan route and the QR listener; call after the infrastructure's cleanup context."""
    latest = LatestQr()
    app[LATEST_QR] = latest
    app.router.add_post("/marketplace/api/demo/scan", post_demo_scan)
    app.cleanup_ctx.append(background_ctx("demo-phone", latest.start))


__all__ = ["SCAN_BUTTON", "add_demo"]
