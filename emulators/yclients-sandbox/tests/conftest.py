"""Fixtures: a sandbox on a free port, an HTTP client, a local receiver of webhooks, and a
stand-in for our operator URL (where the sandbox's notification module posts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from yclients_sandbox.testing import RunningSandbox, run_sandbox

TOKEN = "partner-token-of-the-tests"
APP_ID = 45
UA = "ai-admin-tests/1.0"


class Receiver:
    """Our side of the webhooks: records bodies, answers the programmed statuses, then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.arrived_at: list[float] = []  # time.monotonic() of each request
        self.statuses: list[int] = []
        self._changed = asyncio.Condition()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        async with self._changed:
            self.arrived_at.append(time.monotonic())
            self.received.append((request.path, await request.json()))
            self._changed.notify_all()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"ok": status < 400}, status=status)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, Any]]:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= count)
        return self.received


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}"
    yield receiver
    await runner.cleanup()


@pytest_asyncio.fixture
async def sandbox(receiver: Receiver) -> AsyncIterator[RunningSandbox]:
    async with run_sandbox(
        partner_token=TOKEN,
        application_id=APP_ID,
        port=0,
        callback_url=f"{receiver.url}/callback/yclients",
        rate_per_second=0,
        rate_per_minute=0,
        webhook_retry_delay_seconds=0.05,
        webhook_timeout_seconds=2.0,
    ) as running:
        yield running


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": "application/vnd.yclients.v2+json",
        "User-Agent": UA,
    }
    async with aiohttp.ClientSession(headers=headers) as session:
        yield session


@pytest.fixture
def body_for(receiver: Receiver) -> Callable[[int], dict[str, Any]]:
    """The install body our activation sends for a salon, webhook URL pointing at the receiver."""

    def body(salon_id: int) -> dict[str, Any]:
        return {
            "salon_id": salon_id,
            "application_id": APP_ID,
            "api_key": f"api-key-{salon_id}",
            "webhook_urls": [f"{receiver.url}/webhook/{salon_id}/secret"],
            "channels": ["whatsapp"],
        }

    return body


@pytest.fixture
def install_salon(
    sandbox: RunningSandbox, http: aiohttp.ClientSession, body_for: Callable[[int], dict[str, Any]]
) -> Callable[..., Awaitable[None]]:
    """Consent and install salons the way our activation does."""

    async def install(*salon_ids: int) -> None:
        await sandbox.control.consent(list(salon_ids))
        for salon_id in salon_ids:
            async with http.post(
                f"{sandbox.url}/marketplace/partner/callback", json=body_for(salon_id)
            ) as response:
                assert response.status == 201, await response.text()

    return install


class Operator:
    """Our side of the notification module: records each request; answers what is programmed
    (a status and body, or a function of the request's body giving them), else accepts every
    destination with an `ext_id`."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.answers: list[tuple[int, Any] | Callable[[Any], tuple[int, Any]]] = []
        self._changed = asyncio.Condition()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._changed:
            self.requests.append((dict(request.headers), body))
            self._changed.notify_all()
        if self.answers:
            programmed = self.answers.pop(0)
            status, answer = programmed(body) if callable(programmed) else programmed
            return web.json_response(answer, status=status)
        destinations = body["destination_params"]
        items = destinations if isinstance(destinations, list) else [destinations]
        return web.json_response([{"id": d["id"], "ext_id": f"wamid.{d['id']}"} for d in items])

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], Any]]:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.requests) >= count)
        return self.requests


@pytest_asyncio.fixture
async def operator() -> AsyncIterator[Operator]:
    operator = Operator()
    app = web.Application()
    app.router.add_post("/{tail:.*}", operator.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    operator.url = f"http://{host}:{port}/yclients/notify"
    yield operator
    await runner.cleanup()
