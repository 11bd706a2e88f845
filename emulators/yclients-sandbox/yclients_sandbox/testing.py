"""Run the sandbox inside a test's event loop and steer it through its control API.

async with run_sandbox(partner_token="T", callback_url=receiver_url) as sandbox:
    await sandbox.control.consent([101])
    ...  # point the code under test at sandbox.url
    assert [c["status"] for c in await sandbox.control.calls()] == [201]
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from aiohttp import web

from yclients_sandbox.app import create_app
from yclients_sandbox.config import SandboxConfig
from yclients_sandbox.state import CallRecord

TEST_PARTNER_TOKEN = "sandbox-partner-token-for-tests"  # noqa: S105 (a sandbox, not a secret)


class SandboxControlError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"sandbox control answered {status}: {body}")
        self.status = status
        self.body = body


class SandboxControl:
    """A typed client of `/__sandbox/…`."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base_url = base_url

    async def _call(
        self, method: str, endpoint: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        url = f"{self._base_url}/__sandbox/{endpoint}"
        async with self._session.request(method, url, json=body, params=params) as response:
            if response.status >= 400:
                raise SandboxControlError(response.status, await response.text())
            return await response.json()

    async def calls(self, path: str | None = None) -> list[CallRecord]:
        """Every partner API call received, oldest first; only those to `path` when given."""
        params = {"path": path} if path else None
        result: list[CallRecord] = await self._call("GET", "calls", params=params)
        return result

    async def clear_calls(self) -> None:
        await self._call("DELETE", "calls")

    async def program_faults(self, path: str, responses: list[dict[str, Any]]) -> None:
        """Next answers of `path`, used in order: {"status", "message", "errors", "html",
        "delay_seconds", "apply"} (with "apply" the request is handled, only its answer lost)."""
        await self._call("POST", "faults", {"path": path, "responses": responses})

    async def clear_faults(self) -> None:
        await self._call("DELETE", "faults")

    async def advance_clock(self, seconds: float) -> None:
        await self._call("POST", "clock", {"advance_seconds": seconds})

    async def consent(self, salon_ids: list[int], ids_form: str | None = None) -> str:
        """Record the admin's click for these salons; returns the URL YClients would open."""
        body: dict[str, Any] = {"salon_ids": salon_ids}
        if ids_form is not None:
            body["ids_form"] = ids_form
        result = await self._call("POST", "consent", body)
        return str(result["redirect_url"])

    async def send_lifecycle(
        self, salon_id: int, event: str, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = {"salon_id": salon_id, "event": event, "extra": extra or {}}
        result: dict[str, Any] = await self._call("POST", "send/lifecycle", body)
        return result

    async def send_entity(
        self,
        salon_id: int,
        resource: str = "record",
        status: str = "create",
        count: int = 1,
        as_array: bool = False,
    ) -> list[dict[str, Any]]:
        body = {
            "salon_id": salon_id,
            "resource": resource,
            "status": status,
            "count": count,
            "as_array": as_array,
        }
        result: list[dict[str, Any]] = await self._call("POST", "send/entity", body)
        return result

    async def deliveries(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "deliveries")
        return result

    async def wait_for_deliveries(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Poll the deliveries until `predicate` holds; TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            # Polling over HTTP: there is no event to await across the process boundary.
            while not predicate(deliveries := await self.deliveries()):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        return deliveries

    async def set_callback_url(self, url: str) -> None:
        """The Callback URL of the developer cabinet, where lifecycle events are sent."""
        await self._call("POST", "cabinet", {"callback_url": url})

    async def put_salon(
        self, salon_id: int, name: str | None = None, status: str | None = None
    ) -> dict[str, Any]:
        """Add a salon, or set its name or installation state."""
        body: dict[str, Any] = {"salon_id": salon_id, "name": name, "status": status}
        result: dict[str, Any] = await self._call("POST", "salons", body)
        return result

    async def salons(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "salons")
        return result

    async def salon(self, salon_id: int) -> dict[str, Any]:
        return next(salon for salon in await self.salons() if salon["salon_id"] == salon_id)

    async def reset(self) -> None:
        await self._call("POST", "reset")


@dataclass(frozen=True)
class RunningSandbox:
    url: str
    config: SandboxConfig
    app: web.Application
    control: SandboxControl


@asynccontextmanager
async def run_sandbox(
    config: SandboxConfig | None = None, **overrides: Any
) -> AsyncIterator[RunningSandbox]:
    """Serve the sandbox on a free port of 127.0.0.1 (unless the config names a port)."""
    base = config or SandboxConfig(partner_token=TEST_PARTNER_TOKEN, port=0)
    config = replace(base, **overrides)
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        async with aiohttp.ClientSession() as session:
            yield RunningSandbox(url, config, runner.app, SandboxControl(session, url))
    finally:
        await runner.cleanup()
