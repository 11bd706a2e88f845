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
from yclients_sandbox.keys import STATE
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

    async def set_notify_url(self, url: str | None) -> None:
        """The operator URL of the notification module (None: send no notifications)."""
        await self._call("POST", "cabinet", {"notify_url": url})

    # -- records and notifications -------------------------------------------------------------

    async def create_record(
        self,
        salon_id: int,
        client_phone: str,
        client_name: str | None = None,
        service: str | None = None,
        visit_at: str | None = None,
    ) -> dict[str, Any]:
        """A booking made in YClients; answers {"record", "notification", "webhooks"} once the
        notification and the entity webhooks were sent (or given up)."""
        body: dict[str, Any] = {"salon_id": salon_id, "client_phone": client_phone}
        optional = {"client_name": client_name, "service": service, "visit_at": visit_at}
        body.update({name: value for name, value in optional.items() if value is not None})
        result: dict[str, Any] = await self._call("POST", "records", body)
        return result

    async def change_record(
        self,
        record_id: int,
        visit_at: str | None = None,
        service: str | None = None,
        client_name: str | None = None,
    ) -> dict[str, Any]:
        """The booking changed: notified again; answers like `create_record`."""
        optional = {"visit_at": visit_at, "service": service, "client_name": client_name}
        body = {name: value for name, value in optional.items() if value is not None}
        result: dict[str, Any] = await self._call("POST", f"records/{record_id}", body)
        return result

    async def records(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "records")
        return result

    async def send_mailing(
        self,
        salon_id: int,
        text: str | None = None,
        phones: list[str] | None = None,
        as_list: bool = False,
    ) -> list[dict[str, Any]]:
        """An advertising send (`dispatch_type: adds`); answers the notifications sent."""
        body: dict[str, Any] = {"salon_id": salon_id, "as_list": as_list}
        if text is not None:
            body["text"] = text
        if phones is not None:
            body["phones"] = phones
        result: list[dict[str, Any]] = await self._call("POST", "mailings", body)
        return result

    async def notifications(self, salon_id: int | None = None) -> list[dict[str, Any]]:
        """Every notification, oldest first, with body, attempts, answers and statuses."""
        params = {"salon_id": str(salon_id)} if salon_id is not None else None
        result: list[dict[str, Any]] = await self._call("GET", "notifications", params=params)
        return result

    async def wait_for_notifications(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Poll the notifications until `predicate` holds; TimeoutError after `timeout`."""
        async with asyncio.timeout(timeout):
            # Polling over HTTP: there is no event to await across the process boundary.
            while not predicate(sent := await self.notifications()):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        return sent

    async def statuses(self, send_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Statuses our channel reported, per send id, in order of arrival."""
        params = {"id": send_id} if send_id is not None else None
        result: dict[str, list[dict[str, Any]]] = await self._call("GET", "statuses", params=params)
        return result

    async def schedule(self) -> dict[str, Any]:
        """Reminders and trial ends the clock has yet to reach."""
        result: dict[str, Any] = await self._call("GET", "schedule")
        return result

    # -- billing -------------------------------------------------------------------------------

    async def set_tariffs(self, tariffs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the application's tariffs: [{"title", "price", "months"?, "currency_iso"?}]."""
        result: list[dict[str, Any]] = await self._call("POST", "tariffs", {"tariffs": tariffs})
        return result

    async def tariffs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "tariffs")
        return result

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
        state = runner.app[STATE]
        state.public_url = state.public_url or url
        async with aiohttp.ClientSession() as session:
            yield RunningSandbox(url, config, runner.app, SandboxControl(session, url))
    finally:
        await runner.cleanup()
