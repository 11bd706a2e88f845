"""Latency of activation: from ``wa.session.connected`` to the install call reaching YClients
(the sandbox), to ``activation.completed`` on the bus, and to the browser's Socket.IO
``connected`` event (what the onboarding page treats as done: it shows «Готово»).

Starts the YClients sandbox (with YClients' own limits: 5/s, 200/min per IP), and gateway and
activation as real processes on a private database and vhost. Each of the N one-salon
connections is opened through the real redirect (the sandbox's signed ``user_data`` to
``GET /auth/yclients/redirect``), and a Socket.IO client joins its room with the token the
redirect gave. Then their ``wa.session.connected`` are published at a steady rate below YClients'
limit, and p50/p90/p99/max printed, beside the bare RabbitMQ round trip of the same run.

    .venv/bin/python -m bench.activation_bench [--connections 200] [--rate 2.5]

Needs the local PostgreSQL and RabbitMQ (a private database and vhost are created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import aio_pika
import aiohttp
import socketio
from gateway import tokens
from yclients_sandbox.config import SalonConfig
from yclients_sandbox.testing import RunningSandbox, run_sandbox

from bench.gateway_qr_bench import measure_bare_round_trip
from shared.bus import Publisher, connect
from shared.messages import Envelope, SessionConnected
from shared.topology import EVENTS_EXCHANGE
from testkit.environment import TEST_SECRETS, create_environment, drop_environment
from testkit.processes import free_port
from testkit.system import RunningSystem

FIRST_SALON = 880_000
INSTALL = "/marketplace/partner/callback"
NAMESPACE = "/marketplace"
DONE_EVENT = "connected"  # gateway's relay of activation.completed; the page then shows «Готово»


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(name: str, seconds: list[float]) -> None:
    if not seconds:
        print(f"{name:<38} n=0")
        return
    ms = [value * 1000 for value in seconds]
    print(
        f"{name:<38} n={len(ms):<4} p50={percentile(ms, 0.5):7.1f} ms  "
        f"p90={percentile(ms, 0.9):7.1f} ms  p99={percentile(ms, 0.99):7.1f} ms  "
        f"max={max(ms):7.1f} ms  mean={statistics.fmean(ms):7.1f} ms"
    )


async def open_browser(
    http: aiohttp.ClientSession,
    sandbox: RunningSandbox,
    gateway_url: str,
    salon_id: int,
    done_at: dict[str, float],
) -> tuple[str, socketio.AsyncClient]:
    """The admin's click in YClients, the redirect to gateway, and the page's Socket.IO client."""
    redirect = await sandbox.control.consent([salon_id])
    async with http.get(redirect, allow_redirects=False) as response:
        assert response.status == 302, await response.text()
        token = parse_qs(urlsplit(response.headers["Location"]).fragment)["token"][0]
    connection_id = str(tokens.decode(token, TEST_SECRETS["JWT_SECRET"]).connection_id)
    client = socketio.AsyncClient(reconnection=False)

    async def on_done(_data: object = None) -> None:
        done_at.setdefault(connection_id, time.time())

    client.on(DONE_EVENT, on_done, namespace=NAMESPACE)
    await client.connect(
        gateway_url, namespaces=[NAMESPACE], auth={"token": token}, transports=["websocket"]
    )
    return connection_id, client


async def main(connections: int, rate: float) -> None:
    env = await create_environment()
    gateway_url = f"http://127.0.0.1:{free_port()}"
    salons = tuple(SalonConfig(FIRST_SALON + i, f"Салон {i}") for i in range(connections))
    clients: list[socketio.AsyncClient] = []
    try:
        async with run_sandbox(
            partner_token=TEST_SECRETS["YCLIENTS_PARTNER_TOKEN"],
            port=free_port(),
            salons=salons,
            redirect_url=f"{gateway_url}/auth/yclients/redirect",
        ) as sandbox:
            system = RunningSystem(
                env.env(
                    YCLIENTS_BASE_URL=sandbox.url,
                    PUBLIC_BASE_URL="https://bench.example",
                    LOG_LEVEL="WARNING",
                ),
                {"gateway": gateway_url, "activation": f"http://127.0.0.1:{free_port()}"},
            )
            try:
                for name in ("gateway", "activation"):
                    system.start_service(name)
                    await system.wait_ready(name)
                done_at: dict[str, float] = {}
                salon_of: dict[str, int] = {}
                async with aiohttp.ClientSession() as http:
                    for salon in salons:
                        connection_id, client = await open_browser(
                            http, sandbox, gateway_url, salon.id, done_at
                        )
                        salon_of[connection_id] = salon.id
                        clients.append(client)
                await measure(env.amqp_url, sandbox, salon_of, done_at, rate)
            finally:
                await asyncio.gather(*(client.disconnect() for client in clients))
                system.stop_all()
    finally:
        await drop_environment(env)


async def measure(
    amqp_url: str,
    sandbox: RunningSandbox,
    salon_of: dict[str, int],
    done_at: dict[str, float],
    rate: float,
) -> None:
    connection_ids = list(salon_of)
    broker = await connect(amqp_url)
    publisher = await Publisher.open(broker)
    bare = await measure_bare_round_trip(broker, publisher, len(connection_ids))

    completed_at: dict[str, float] = {}
    channel = await broker.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(EVENTS_EXCHANGE, "activation.completed")

    async def on_completed(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            completed_at.setdefault(Envelope.from_bytes(message.body).correlation_id, time.time())

    await queue.consume(on_completed)
    sent_at: dict[str, float] = {}
    started = time.monotonic()
    for index, connection_id in enumerate(connection_ids):
        # A steady arrival rate: latency, not the queue built by a burst, is what is measured.
        await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
        sent_at[connection_id] = time.time()
        await publisher.send(
            SessionConnected(session_id=connection_id, phone="79160000000"), connection_id
        )
    deadline = time.monotonic() + 120
    # Two sources fill these (the bus consumer and the Socket.IO clients): polled, not awaited.
    while time.monotonic() < deadline and min(len(completed_at), len(done_at)) < len(sent_at):  # noqa: ASYNC110
        await asyncio.sleep(0.1)  # what did not arrive in time is reported below
    with contextlib.suppress(Exception):
        await broker.close()

    installed_at: dict[int, float] = {}
    statuses: dict[int, int] = {}
    for call in await sandbox.control.calls(INSTALL):
        statuses[call["status"]] = statuses.get(call["status"], 0) + 1
        if call["status"] == 201:
            installed_at[int(call["body"]["salon_id"])] = datetime.fromisoformat(
                call["time"]
            ).timestamp()
    print(
        f"{len(connection_ids)} connections at {rate}/s, each with its Socket.IO client; "
        f"install answers: {statuses}"
    )
    report("bare RabbitMQ round trip (confirmed)", bare)
    report(
        "connected -> install at YClients",
        [
            installed_at[salon_of[c]] - sent_at[c]
            for c in connection_ids
            if salon_of[c] in installed_at
        ],
    )
    report(
        "connected -> activation.completed",
        [completed_at[c] - sent_at[c] for c in connection_ids if c in completed_at],
    )
    report(
        f"connected -> Socket.IO '{DONE_EVENT}'",
        [done_at[c] - sent_at[c] for c in connection_ids if c in done_at],
    )
    for name, arrived in (("activation.completed", completed_at), (DONE_EVENT, done_at)):
        if missing := len(connection_ids) - len(arrived):
            print(f"{missing} connections got no {name} within the wait")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.5, help="connections per second")
    args = parser.parse_args()
    asyncio.run(main(args.connections, args.rate))
