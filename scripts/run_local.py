"""``make run``: the four services as local processes, their logs in one terminal.

With no ``YCLIENTS_PARTNER_TOKEN`` in the environment this is the offline demo: the YClients
sandbox and the WhatsApp emulator start too, the services are pointed at them, and one URL is
printed to click through the whole onboarding. Ctrl-C (or SIGTERM) stops everything.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import sys
from dataclasses import dataclass, field

from scripts import dev_env
from testkit.environment import ROOT

VAR = ROOT / "var"
COLORS = ["36", "35", "33", "32", "34", "31"]


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None


def dev_secrets() -> dict[str, str]:
    """Secrets for the local demo, made once and kept in var/ so restarts keep sessions."""
    path = VAR / "dev-secrets.env"
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


async def pump(child: Child, color: str) -> None:
    assert child.process is not None and child.process.stdout is not None
    label = f"\033[{color}m{child.name:>14}\033[0m |"
    async for raw in child.process.stdout:
        sys.stdout.write(f"{label} {raw.decode(errors='replace')}")
        sys.stdout.flush()


async def start(child: Child, color: str, base_env: dict[str, str]) -> asyncio.Task[None]:
    child.process = await asyncio.create_subprocess_exec(
        *child.args,
        cwd=ROOT,
        env={**base_env, **child.env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    return asyncio.create_task(pump(child, color))


async def start_emulator(
    base_env: dict[str, str],
) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """The WhatsApp emulator announces its URLs and root key on its first stdout line."""
    VAR.mkdir(exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        "node",
        "services/wa-session/wa-emulator/src/main.mjs",
        "--host",
        "127.0.0.1",
        "--ws-port",
        "8091",
        "--control-port",
        "8092",
        "--root-key-file",
        str(VAR / "wa-emulator-root.key"),
        cwd=ROOT,
        env=base_env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    return process, json.loads(line)


async def main() -> int:
    problems = await dev_env.check()
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    dev_env.migrate()
    env = {
        **os.environ,
        "DATABASE_URL": dev_env.DATABASE_URL,
        "AMQP_URL": dev_env.AMQP_URL,
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "console"),
        "PYTHONUNBUFFERED": "1",
        "ALLOWED_ORIGINS": os.environ.get(
            "ALLOWED_ORIGINS", "http://127.0.0.1:8080,http://localhost:8080"
        ),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8081"),
    }
    demo = not os.environ.get("YCLIENTS_PARTNER_TOKEN")
    children: list[Child] = []
    extra: list[asyncio.subprocess.Process] = []
    if demo:
        env.update({k: v for k, v in dev_secrets().items() if k not in os.environ})
        emulator, announced = await start_emulator(env)
        extra.append(emulator)
        env.update(
            {
                "YCLIENTS_BASE_URL": "http://127.0.0.1:8090",
                "WA_WEBSOCKET_URL": announced["wsUrl"],
                "WA_TRUST_EMULATOR_ROOT_KEY": announced["rootPublicKey"],
                "WA_EMULATOR_CONTROL_URL": announced["controlUrl"],
            }
        )
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
                    "8090",
                    "--partner-token",
                    env["YCLIENTS_PARTNER_TOKEN"],
                    "--application-id",
                    env["YCLIENTS_APP_ID"],
                    "--redirect-url",
                    "http://127.0.0.1:8080/auth/yclients/redirect",
                    "--callback-url",
                    "http://127.0.0.1:8081/callback/yclients",
                ],
            )
        )
    for name, module, port in (
        ("gateway", "gateway", 8080),
        ("webhook-ingest", "webhook_ingest", 8081),
        ("wa-session", "wa_session", 8082),
        ("activation", "activation", 8083),
    ):
        children.append(
            Child(
                name, [sys.executable, "-m", module], {"HTTP_PORT": str(port), "SERVICE_NAME": name}
            )
        )
    pumps = [await start(child, COLORS[i % len(COLORS)], env) for i, child in enumerate(children)]
    if demo:
        print(
            "\n  Демо без внешних сервисов. Откройте: http://127.0.0.1:8090/\n"
            f"  Телефон WhatsApp (эмулятор): {env['WA_EMULATOR_CONTROL_URL']}/\n",
            flush=True,
        )
    else:
        print("\n  Gateway: http://127.0.0.1:8080/healthz\n", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waits = [asyncio.create_task(c.process.wait()) for c in children if c.process]
    stop_task = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stop_task, *waits], return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    if stop_task not in done:
        crashed = [c.name for c in children if c.process and c.process.returncode is not None]
        print(
            f"\n  Stopped because {', '.join(crashed)} exited; stopping the rest.", file=sys.stderr
        )
        exit_code = 1
    for child in children:
        if child.process and child.process.returncode is None:
            child.process.send_signal(signal.SIGTERM)
    for process in extra:
        process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(asyncio.gather(*(c.process.wait() for c in children if c.process)), 30)
    await asyncio.gather(*pumps, return_exceptions=True)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
