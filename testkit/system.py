"""The whole system as separate processes, with both emulators, for e2e tests and benchmarks.

async with running_system(test_env) as system:
    redirect = await system.sandbox.control.consent([101, 102])
    ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from testkit.environment import ROOT, TEST_SECRETS, TestEnvironment, forget_running_sessions
from testkit.processes import Process, free_port, python_module, wait_http_ok

EMULATOR_MAIN = ROOT / "emulators" / "whatsapp" / "src" / "main.mjs"

SERVICES = {
    "gateway": "gateway",
    "webhook-ingest": "webhook_ingest",
    "wa-session": "wa_session",
    "activation": "activation",
}


@dataclass
class WhatsAppEmulator:
    process: Process
    ws_url: str
    control_url: str
    root_public_key: str

    async def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.control_url}{path}", json=body) as response,
        ):
            return response.status, await response.json(content_type=None)

    async def control(self, method: str, path: str, body: object = None) -> object:
        status, payload = await self.call(method, path, body)
        if status >= 400:
            raise RuntimeError(f"emulator {path} answered {status}: {payload}")
        return payload

    async def scan_until_linked(
        self,
        read_qr: Callable[[], Awaitable[str]],
        tries: int = 3,
        timeout: float = 30,
        phone: str | None = None,
    ) -> dict[str, Any]:
        """The phone (``phone``'s, or a new number) scans what is on screen, as an admin does.
        Today's WhatsApp refuses the first scan of a QR ("Couldn't link device") and retires its
        secret; the page then shows the QR re-rendered, which the admin scans again. Returns the
        phone's answer."""
        refused: set[str] = set()
        for _ in range(tries):
            deadline = time.monotonic() + timeout
            while (qr := await read_qr()) in refused:
                if time.monotonic() > deadline:
                    raise TimeoutError("the page never showed a new QR after a refused scan")
                await asyncio.sleep(0.2)
            scan = {"qr": qr} if phone is None else {"qr": qr, "phone": phone}
            status, body = await self.call("POST", "/scan", scan)
            if status == 200:
                return dict(body)
            if status != 409:
                raise RuntimeError(f"the phone could not scan: {status} {body}")
            refused.add(qr)
        raise RuntimeError(f"no scan linked in {tries} tries")


def emulator_command(*options: str) -> list[str]:
    """The WhatsApp emulator on free loopback ports; it announces them on its first line."""
    return [
        "node",
        str(EMULATOR_MAIN),
        "--host",
        "127.0.0.1",
        "--ws-port",
        "0",
        "--control-port",
        "0",
        *options,
    ]


def start_whatsapp_emulator(refs: int = 6, qr_timeout_ms: int | None = None) -> WhatsAppEmulator:
    args = emulator_command("--refs", str(refs))
    if qr_timeout_ms is not None:
        args += ["--qr-timeout-ms", str(qr_timeout_ms)]
    process = Process("wa-emulator", args, dict(os.environ))
    announced = process.read_json_line()
    return WhatsAppEmulator(
        process,
        str(announced["wsUrl"]),
        str(announced["controlUrl"]),
        str(announced["rootPublicKey"]),
    )


@dataclass
class RunningSystem:
    env: dict[str, str]
    urls: dict[str, str]
    processes: dict[str, Process] = field(default_factory=dict)

    def start_service(self, name: str, instance: str = "") -> Process:
        key = f"{name}{instance}"
        port = (
            free_port()
            if instance or name not in self.urls
            else int(self.urls[name].rsplit(":", 1)[1])
        )
        env = {
            **self.env,
            "HTTP_PORT": str(port),
            "SERVICE_NAME": name,
            "INSTANCE_ID": f"{name}{instance or '-1'}",
        }
        self.processes[key] = python_module(key, SERVICES[name], env)
        self.urls.setdefault(key, f"http://127.0.0.1:{port}")
        return self.processes[key]

    async def wait_ready(self, key: str) -> None:
        await wait_http_ok(f"{self.urls[key]}/readyz", timeout=60, process=self.processes[key])

    def stop_all(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(Exception):
                process.stop()


@contextlib.asynccontextmanager
async def running_system(
    test_env: TestEnvironment,
    sandbox_url: str,
    emulator: WhatsAppEmulator,
    qr_timeout_ms: int | None = None,
    services: tuple[str, ...] = tuple(SERVICES),
    **overrides: str,
) -> AsyncIterator[RunningSystem]:
    """Start the services (each a real process) against the given emulators; stop them after."""
    urls = {name: f"http://127.0.0.1:{free_port()}" for name in SERVICES}
    spool = ROOT / "var" / f"spool-{os.getpid()}-{free_port()}"
    env = test_env.env(
        YCLIENTS_BASE_URL=sandbox_url,
        PUBLIC_BASE_URL=urls["webhook-ingest"],
        ALLOWED_ORIGINS=urls["gateway"],
        WA_WEBSOCKET_URL=emulator.ws_url,
        WA_TRUST_EMULATOR_ROOT_KEY=emulator.root_public_key,
        WEBHOOK_SPOOL_DIR=str(spool),
        **({"WA_QR_TIMEOUT_MS": str(qr_timeout_ms)} if qr_timeout_ms else {}),
        **overrides,
    )
    system = RunningSystem(env, urls)
    await forget_running_sessions(test_env)
    try:
        for name in services:
            system.start_service(name)
        for name in services:
            await system.wait_ready(name)
        # YClients' cabinet points its Callback URL at this system's webhook-ingest.
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{sandbox_url}/__sandbox/cabinet",
                json={"callback_url": f"{urls['webhook-ingest']}/callback/yclients"},
            ) as response,
        ):
            response.raise_for_status()
        yield system
    finally:
        system.stop_all()
        shutil.rmtree(spool, ignore_errors=True)


def partner_token() -> str:
    return TEST_SECRETS["YCLIENTS_PARTNER_TOKEN"]


def application_id() -> int:
    return int(TEST_SECRETS["YCLIENTS_APP_ID"])


def log_tail(system: RunningSystem, lines: int = 40) -> str:
    parts = []
    for key, process in system.processes.items():
        tail = "\n".join(process.logs().splitlines()[-lines:])
        parts.append(f"--- {key} ({Path(process.log_path).name})\n{tail}")
    return "\n".join(parts)


__all__ = ["RunningSystem", "WhatsAppEmulator", "running_system", "start_whatsapp_emulator"]
