"""SIGTERM to the gateway in the middle of a stream of onboardings: the stopping instance answers
what it took in and exits 0 at once, the next one on the same port takes the rest, every
redirect answered 302 has its connection, every QR request answered 202 sent its
``wa.session.start`` exactly once, and an open page's socket comes back to the new instance."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import jwt
from sqlalchemy import func, select

from shared.db import Database
from shared.messages import ActivationCompleted, Envelope, StartSession
from shared.models import Company, Connection
from testkit.processes import eventually

TOTAL = 240
CONCURRENCY = 8
TERMINATE_AFTER = 80
# The gateway must be gone well before SHUTDOWN_GRACE_SECONDS (10 s): nothing it holds is slow.
PROMPT_EXIT_SECONDS = 5.0


@dataclass
class Onboarding:
    """One admin's redirect and QR request, retried like a browser would on connection errors."""

    salon_ids: list[int]
    statuses: list[int] = field(default_factory=list)
    connection_id: str | None = None
    qr_requested: bool = False


def connection_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


async def test_sigterm_mid_stream_answers_everything_once_and_the_page_reconnects(
    start_gateway_process, new_salons, command_tap, publisher, browsers, database: Database
):
    first = await start_gateway_process("gateway-sigterm-1")
    port = int(first.url.rsplit(":", 1)[1])

    # A page that is open during the restart, in the room of its own connection.
    async with (
        aiohttp.ClientSession() as http,
        http.get(first.redirect_url(new_salons(1)), allow_redirects=False) as response,
    ):
        page_token = first.token_from(response.headers["Location"])
    page = browsers(reconnection=True)
    await page.connect(first.url, page_token)
    await page.wait_for("status")

    onboardings = [Onboarding(new_salons(2)) for _ in range(TOTAL)]
    stream_started = datetime.now(UTC)
    slots = asyncio.Semaphore(CONCURRENCY)

    async def request(http: aiohttp.ClientSession, flow: Onboarding, method: str, url: str, **kw):
        # While no instance listens (between the old one stopping and the new one starting) the
        # port refuses connections: try again, as a browser's reload would.
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with http.request(method, url, allow_redirects=False, **kw) as response:
                    flow.statuses.append(response.status)
                    if response.status < 500:
                        return response
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"no answer for {method} {url}")

    async def onboard(http: aiohttp.ClientSession, flow: Onboarding) -> None:
        async with slots:
            redirect = await request(http, flow, "GET", first.redirect_url(flow.salon_ids))
            if redirect.status != 302:
                return
            token = first.token_from(redirect.headers["Location"])
            flow.connection_id = connection_of(token)
            qr = await request(
                http,
                flow,
                "POST",
                f"{first.url}/marketplace/api/qr",
                json={},
                headers={"Authorization": f"Bearer {token}"},
            )
            flow.qr_requested = qr.status == 202

    async def terminate_and_replace():
        await eventually(
            lambda: _true(sum(f.qr_requested for f in onboardings) >= TERMINATE_AFTER),
            timeout=60,
            interval=0.01,
        )
        code, seconds = await first.process.terminate(timeout=30)
        second = await start_gateway_process("gateway-sigterm-2", port)
        return code, seconds, second

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        replace = asyncio.create_task(terminate_and_replace())
        await asyncio.gather(*(onboard(http, flow) for flow in onboardings))
        code, seconds, second = await replace

    logs = first.process.logs()[-3000:]
    assert code == 0, logs
    assert seconds < PROMPT_EXIT_SECONDS, (seconds, logs)
    answered = Counter(status for flow in onboardings for status in flow.statuses)
    assert answered == {302: TOTAL, 202: TOTAL}, answered
    done_by_second = second.process.logs().count('"connection opened"')
    assert 0 < done_by_second < TOTAL, "the SIGTERM came before or after the stream"

    # Every redirect answered 302 left its pending connection, with its salons in it.
    ids = {flow.connection_id for flow in onboardings}
    async with database.unit_of_work() as uow:
        connections = dict(
            (
                await uow.session.execute(
                    select(Connection.id, Connection.status).where(Connection.id.in_(ids))
                )
            ).all()
        )
        salon_owner = dict(
            (
                await uow.session.execute(
                    select(Company.id, Company.connection_id).where(
                        Company.id.in_([s for flow in onboardings for s in flow.salon_ids])
                    )
                )
            ).all()
        )
        opened = await uow.session.scalar(
            select(func.count())
            .select_from(Connection)
            .where(Connection.consented_at >= stream_started)
        )
        await uow.commit()
    # No redirect was left unanswered after it committed (which a retry would then repeat).
    assert opened == TOTAL
    assert {str(cid): status for cid, status in connections.items()} == dict.fromkeys(
        ids, "pending"
    )
    for flow in onboardings:
        assert {str(salon_owner[s]) for s in flow.salon_ids} == {flow.connection_id}

    # Every QR request answered 202 sent one wa.session.start: none lost, none twice.
    starts: Counter[str] = Counter()
    while (message := await command_tap.get(fail=False, no_ack=True)) is not None:
        envelope = Envelope.from_bytes(message.body)
        if envelope.type == StartSession.message_type and envelope.correlation_id in ids:
            starts[envelope.correlation_id] += 1
    assert starts == dict.fromkeys(ids, 1)

    # The open page came back by itself to the new instance (which sent it the status again)
    # and gets its connection's later events from there.
    await page.wait_for("status", count=2, timeout=20)
    page_connection = connection_of(page_token)
    await publisher.send(
        ActivationCompleted(connection_id=page_connection, salon_ids=[1]), page_connection
    )
    (connected,) = await page.wait_for("connected", timeout=15)
    assert connected == {"salonIds": [1]}


async def _true(value: bool) -> bool:
    return value
