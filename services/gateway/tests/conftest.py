"""Fixtures for the gateway's tests: the gateway as real processes on the run's test
environment, redirect URLs built the way YClients builds them, and a bus tap."""

from __future__ import annotations

import itertools
import os
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aio_pika
import pytest
import socketio
from gateway.realtime import NAMESPACE
from yclients_sandbox.config import UserConfig
from yclients_sandbox.redirect import build_redirect_url, user_payload
from yclients_sandbox.testing import RunningSandbox, run_sandbox

from shared.bus import Publisher, connect
from testkit.environment import TEST_SECRETS, TestEnvironment
from testkit.processes import Process, eventually, free_port, python_module, wait_http_ok

PARTNER_TOKEN = TEST_SECRETS["YCLIENTS_PARTNER_TOKEN"]
APPLICATION_ID = int(TEST_SECRETS["YCLIENTS_APP_ID"])
JWT_SECRET = TEST_SECRETS["JWT_SECRET"]

# Salon ids unique to this run, so tests never see each other's salons.
_salon_ids = itertools.count(random.randint(10**8, 9 * 10**8) * 10)


def new_salon_ids(count: int = 1) -> list[int]:
    return [next(_salon_ids) for _ in range(count)]


@dataclass
class GatewayProcess:
    url: str
    process: Process

    def redirect_url(
        self,
        salon_ids: Sequence[int],
        ids_form: str = "auto",
        salon_name: str = "Салон «Ромашка»",
        user: UserConfig | None = None,
    ) -> str:
        """The URL YClients opens after "Подключить", signed with the partner token, for the
        sandbox's admin unless another YClients user is given."""
        payload = user_payload(user or UserConfig(), salon_name)
        return build_redirect_url(
            f"{self.url}/auth/yclients/redirect",
            salon_ids,
            payload,
            PARTNER_TOKEN,
            ids_form,  # type: ignore[arg-type]
        )

    @staticmethod
    def token_from(location: str) -> str:
        """The onboarding token from a redirect's Location (it travels in the fragment)."""
        assert location.startswith("/marketplace/onboarding#token="), location
        return location.split("#token=", 1)[1]

    def url_with(self, path: str, params: Sequence[tuple[str, str]]) -> str:
        query = "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in params)
        return f"{self.url}{path}?{query}"


async def start_gateway(
    test_env: TestEnvironment,
    name: str,
    yclients_url: str,
    port: int | None = None,
    **env: str,
) -> GatewayProcess:
    port = port or free_port()
    process = python_module(
        name,
        "gateway",
        test_env.env(
            HTTP_PORT=str(port),
            INSTANCE_ID=name,
            LOG_LEVEL="INFO",
            YCLIENTS_BASE_URL=yclients_url,
            **env,
        ),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_http_ok(f"{url}/readyz", timeout=30, process=process)
    except BaseException:
        process.stop()
        raise
    return GatewayProcess(url, process)


@pytest.fixture(scope="session")
async def yclients() -> AsyncIterator[RunningSandbox]:
    """YClients, as far as the gateway asks it (is the app still installed in a salon?)."""
    async with run_sandbox(partner_token=PARTNER_TOKEN, application_id=APPLICATION_ID) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
async def gateway(
    test_env: TestEnvironment, yclients: RunningSandbox
) -> AsyncIterator[GatewayProcess]:
    running = await start_gateway(test_env, "gateway-a", yclients.url)
    yield running
    running.process.stop()


@pytest.fixture
async def start_gateway_process(
    test_env: TestEnvironment, yclients: RunningSandbox
) -> AsyncIterator[Callable[..., Awaitable[GatewayProcess]]]:
    """Start gateway processes of one's own (to stop them mid-test); all are stopped afterwards."""
    started: list[GatewayProcess] = []

    async def start(name: str, port: int | None = None, **env: str) -> GatewayProcess:
        running = await start_gateway(test_env, name, yclients.url, port, **env)
        started.append(running)
        return running

    yield start
    for running in started:
        running.process.stop()


@pytest.fixture(scope="session")
async def second_gateway(
    test_env: TestEnvironment, gateway: GatewayProcess, yclients: RunningSandbox
) -> AsyncIterator[GatewayProcess]:
    running = await start_gateway(test_env, "gateway-b", yclients.url)
    yield running
    running.process.stop()


@pytest.fixture(scope="session")
async def bus(test_env: TestEnvironment) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    connection = await connect(test_env.amqp_url)
    yield connection
    await connection.close()


@pytest.fixture(scope="session")
async def publisher(bus: aio_pika.abc.AbstractRobustConnection) -> AsyncIterator[Publisher]:
    opened = await Publisher.open(bus)
    yield opened
    await opened.close()


@pytest.fixture
async def command_tap(
    bus: aio_pika.abc.AbstractRobustConnection,
) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A private queue that sees every command the gateway sends."""
    channel = await bus.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind("aiadmin.commands", "#")
    yield queue
    await channel.close()


@pytest.fixture(scope="session")
def screenshots_dir() -> str:
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "var", "screenshots")
    os.makedirs(path, exist_ok=True)
    return os.path.normpath(path)


class Browser:
    """A Socket.IO client that records every server event it gets."""

    def __init__(self, reconnection: bool = False) -> None:
        # A page's client reconnects by itself (reconnection=True), quickly in tests.
        self.client = socketio.AsyncClient(
            reconnection=reconnection, reconnection_delay=0.2, reconnection_delay_max=1
        )
        self.received: dict[str, list[Any]] = defaultdict(list)
        self.client.on("*", self._record, namespace=NAMESPACE)
        self.client.on("connect_error", self._refused, namespace=NAMESPACE)

    async def _refused(self, data: Any = None) -> None:
        self.received["connect_error"].append(data)

    async def _record(self, event: str, data: Any = None) -> None:
        self.received[event].append(data)

    async def connect(self, url: str, token: str | None, origin: str | None = None) -> None:
        await self.client.connect(
            url,
            headers={"Origin": origin} if origin else {},
            namespaces=[NAMESPACE],
            auth={"token": token} if token is not None else None,
            transports=["websocket"],
            wait_timeout=10,
        )

    async def wait_for(self, event: str, count: int = 1, timeout: float = 10) -> list[Any]:
        async def probe() -> list[Any] | None:
            got = self.received.get(event, [])
            return got if len(got) >= count else None

        return await eventually(probe, timeout=timeout)


@pytest.fixture
async def browsers() -> AsyncIterator[Any]:
    opened: list[Browser] = []

    def new(reconnection: bool = False) -> Browser:
        opened.append(Browser(reconnection))
        return opened[-1]

    yield new
    for browser in opened:
        await browser.client.disconnect()


@pytest.fixture
def new_salons() -> Any:
    """``new_salons(n)``: n salon ids no other test uses."""
    return new_salon_ids
