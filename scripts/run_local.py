"""``make run``: the four services as local processes, their logs in one terminal.

With no ``YCLIENTS_PARTNER_TOKEN`` in the environment this is the offline demo: the YClients
sandbox and the WhatsApp emulator start too, the services are pointed at them, the onboarding
page gets the emulated phone's scan button, and one URL is printed to click through the whole
onboarding. Ports come from ``RUN_BASE_PORT`` (default 8080): gateway +0, webhook-ingest +1,
wa-session +2, activation +3, sandbox +10, emulator WebSocket +11 and control +12.

Ctrl-C or SIGTERM stops every child and exits 0; a child that exits on its own stops the rest
and the exit status is 1.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from scripts import dev_env
from testkit.environment import ROOT

VAR = ROOT / "var"
COLORS = ["36", "35", "33", "32", "34", "31"]
SERVICES = (
    ("gateway", "gateway", 0),
    ("webhook-ingest", "webhook_ingest", 1),
    ("wa-session", "wa_session", 2),
    ("activation", "activation", 3),
)
SANDBOX_OFFSET, EMULATOR_WS_OFFSET, EMULATOR_CONTROL_OFFSET = 10, 11, 12
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None


def local_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def database_name() -> str:
    return urlsplit(dev_env.DATABASE_URL).path.lstrip("/") or "aiadmin"


def dev_secrets(path: Path) -> dict[str, str]:
    """Secrets for the local demo, made once per database and kept so restarts keep sessions."""
    if not path.exists():
        VAR.mkdir(exist_ok=True)
        values = {
            "JWT_SECRET": secrets.token_hex(32),
            "YCLIENTS_PARTNER_TOKEN": "sandbox-" + secrets.token_hex(16),
            "YCLIENTS_APP_ID": "45",
            "WA_STATE_KEYS": "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


async def pump(child: Child, color: str | None) -> None:
    assert child.process is not None and child.process.stdout is not None
    label = f"\033[{color}m{child.name:>14}\033[0m |" if color else f"{child.name:>14} |"
    async for raw in child.process.stdout:
        sys.stdout.write(f"{label} {raw.decode(errors='replace')}")
        sys.stdout.flush()


async def start(child: Child, base_env: dict[str, str]) -> None:
    child.process = await asyncio.create_subprocess_exec(
        *child.args,
        cwd=ROOT,
        env={**base_env, **child.env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


class EmulatorDidNotStart(Exception):
    pass


async def start_emulator(child: Child, base_env: dict[str, str]) -> dict[str, str]:
    """The WhatsApp emulator announces its URLs and root key on its first stdout line."""
    child.process = await asyncio.create_subprocess_exec(
        *child.args, cwd=ROOT, env=base_env, stdout=asyncio.subprocess.PIPE
    )
    assert child.process.stdout is not None
    line = await asyncio.wait_for(child.process.stdout.readline(), timeout=30)
    if not line:
        raise EmulatorDidNotStart("the WhatsApp emulator exited at start (try `make node`)")
    return dict(json.loads(line))


async def announce_when_ready(service_urls: dict[str, str], message: str) -> None:
    """Print the URL only once every service answers /readyz, so the first click works."""
    waiting = dict(service_urls)
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while waiting and asyncio.get_running_loop().time() < deadline:
            for name, url in list(waiting.items()):
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{url}/readyz") as response:
                        if response.status == 200:
                            del waiting[name]
            await asyncio.sleep(0.3)
    if waiting:
        print(f"\n  Not ready after {READY_TIMEOUT:.0f} s: {', '.join(waiting)}\n", flush=True)
    print(message, flush=True)


async def stop_children(children: list[Child]) -> None:
    running = [c.process for c in children if c.process and c.process.returncode is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), STOP_TIMEOUT)
    except TimeoutError:
        for process in running:
            if process.returncode is None:
                print(f"  pid {process.pid} ignored SIGTERM; killing it", file=sys.stderr)
                process.kill()
        await asyncio.gather(*(p.wait() for p in running))


async def main() -> int:
    problems = await dev_env.check()
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    # migrate() runs its own event loop for asyncpg: off this one.
    await asyncio.to_thread(dev_env.migrate)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    base = int(os.environ.get("RUN_BASE_PORT", "8080"))
    service_urls = {name: local_url(base + offset) for name, _, offset in SERVICES}
    gateway_url = service_urls["gateway"]
    env = {
        **os.environ,
        "DATABASE_URL": dev_env.DATABASE_URL,
        "AMQP_URL": dev_env.AMQP_URL,
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "console"),
        "PYTHONUNBUFFERED": "1",
        "ALLOWED_ORIGINS": os.environ.get(
            "ALLOWED_ORIGINS", f"{gateway_url},http://localhost:{base}"
        ),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", service_urls["webhook-ingest"]),
    }
    demo = not os.environ.get("YCLIENTS_PARTNER_TOKEN")
    children: list[Child] = []
    gateway_env: dict[str, str] = {}
    try:
        if demo:
            # Per database, so a test run never reuses or overwrites the developer's.
            secrets_file = VAR / f"dev-secrets-{database_name()}.env"
            env.update({k: v for k, v in dev_secrets(secrets_file).items() if k not in os.environ})
            emulator = Child(
                "wa-emulator",
                [
                    "node",
                    "emulators/whatsapp/src/main.mjs",
                    "--host",
                    "127.0.0.1",
                    "--ws-port",
                    str(base + EMULATOR_WS_OFFSET),
                    "--control-port",
                    str(base + EMULATOR_CONTROL_OFFSET),
                    "--root-key-file",
                    str(VAR / f"wa-emulator-root-{database_name()}.key"),
                ],
            )
            children.append(emulator)
            announced = await start_emulator(emulator, env)
            sandbox_url = local_url(base + SANDBOX_OFFSET)
            env.update(
                {
                    "YCLIENTS_BASE_URL": sandbox_url,
                    "WA_WEBSOCKET_URL": announced["wsUrl"],
                    "WA_TRUST_EMULATOR_ROOT_KEY": announced["rootPublicKey"],
                }
            )
            gateway_env["DEMO_PHONE_URL"] = announced["controlUrl"]
            children.append(
                Child(
                    "yclients-sandbox",
                    [
                        sys.executable,
                        "-m",
                        "yclients_sandbox",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(base + SANDBOX_OFFSET),
                        "--partner-token",
                        env["YCLIENTS_PARTNER_TOKEN"],
                        "--application-id",
                        env["YCLIENTS_APP_ID"],
                        "--redirect-url",
                        f"{gateway_url}/auth/yclients/redirect",
                        "--callback-url",
                        f"{service_urls['webhook-ingest']}/callback/yclients",
                    ],
                )
            )
            message = f"\n  Демо без внешних сервисов. Откройте: {sandbox_url}/\n"
        else:
            message = f"\n  Gateway: {gateway_url}/healthz\n"
        for name, module, offset in SERVICES:
            child_env = {"HTTP_PORT": str(base + offset), "SERVICE_NAME": name}
            if name == "gateway":
                child_env.update(gateway_env)
            children.append(Child(name, [sys.executable, "-m", module], child_env))
        for child in children:
            if child.process is None:
                await start(child, env)
        colored = sys.stdout.isatty()
        pumps = [
            asyncio.create_task(pump(child, COLORS[i % len(COLORS)] if colored else None))
            for i, child in enumerate(children)
        ]
        announce = asyncio.create_task(announce_when_ready(service_urls, message))

        waits = {asyncio.create_task(c.process.wait()): c for c in children if c.process}
        stop_task = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stop_task, *waits], return_when=asyncio.FIRST_COMPLETED)
        announce.cancel()
        exit_code = 0
        if stop_task not in done:
            crashed = [c.name for c in children if c.process and c.process.returncode is not None]
            print(f"\n  {', '.join(crashed)} exited; stopping the rest.", file=sys.stderr)
            exit_code = 1
    finally:
        await stop_children(children)
    await asyncio.gather(*pumps, announce, return_exceptions=True)
    return exit_code


if __name__ == "__main__":
    try:
        raise SystemExit(asyncio.run(main()))
    except EmulatorDidNotStart as exc:
        print(f"\n  {exc}", file=sys.stderr)
        raise SystemExit(1) from None
