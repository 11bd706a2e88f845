"""The production proxy's routing: Debian's caddy runs ``deploy/Caddyfile`` as it is, with only
the addresses swapped (site and upstreams come from environment variables), in front of two
stand-in upstreams that say who they are.

What must hold: YClients' posts reach webhook-ingest, everything else reaches gateway,
WebSocket upgrades pass through, the operational endpoints are not reachable from outside,
a client cannot forge its address, and a body sent too slowly is cut.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from testkit.environment import ROOT
from testkit.processes import Process, free_port, wait_http_ok

CADDYFILE = ROOT / "deploy" / "Caddyfile"


@dataclass
class Upstream:
    name: str
    url: str = ""
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)


async def start_upstream(upstream: Upstream) -> web.AppRunner:
    async def any_request(request: web.Request) -> web.StreamResponse:
        if request.path == "/readyz":  # the proxy's own health checks
            return web.json_response({"ready": True})
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for message in ws:
                await ws.send_str(f"{upstream.name}:{message.data}")
            return ws
        await request.read()
        upstream.seen.append(
            (request.method, request.path_qs, request.headers.get("X-Forwarded-For"))
        )
        return web.json_response({"upstream": upstream.name, "path": request.path_qs})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_request)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    upstream.url = f"127.0.0.1:{port}"
    return runner


@dataclass
class Proxy:
    url: str
    port: int
    gateway: Upstream
    ingest: Upstream


@pytest.fixture(scope="module")
async def proxy(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Proxy]:
    caddy = shutil.which("caddy")
    assert caddy, "Debian's caddy is missing: `make system-deps` installs it"
    gateway, ingest = Upstream("gateway"), Upstream("webhook-ingest")
    runners = [await start_upstream(gateway), await start_upstream(ingest)]
    home: Path = tmp_path_factory.mktemp("caddy")
    port = free_port()
    process = Process(
        "caddy",
        [caddy, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home),
            "XDG_DATA_HOME": str(home),
            "APP_DOMAIN": f"http://127.0.0.1:{port}",
            "ACME_EMAIL": "ops@example.org",
            "CADDY_ADMIN": "off",
            "GATEWAY_UPSTREAM": gateway.url,
            "INGEST_UPSTREAM": ingest.url,
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # /marketplace/onboarding answers 200 once caddy proxies to the gateway stand-in.
        await wait_http_ok(f"{url}/marketplace/onboarding", timeout=30, process=process)
        yield Proxy(url, port, gateway, ingest)
    finally:
        process.stop()
        for runner in runners:
            await runner.cleanup()


async def fetch(proxy: Proxy, method: str, path: str, **kwargs: object) -> tuple[int, object]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, proxy.url + path, allow_redirects=False, **kwargs) as response,
    ):
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


@pytest.mark.parametrize(
    ("method", "path", "upstream"),
    [
        ("POST", "/callback/yclients", "webhook-ingest"),
        ("POST", "/callback/yclients/s3cret", "webhook-ingest"),
        ("POST", "/callback/yclients/notify", "webhook-ingest"),
        ("GET", "/auth/yclients/redirect?salon_id=1&user_data=x", "gateway"),
        ("GET", "/marketplace/onboarding", "gateway"),
        ("POST", "/marketplace/api/qr", "gateway"),
        ("GET", "/marketplace/static/onboarding.js", "gateway"),
        ("GET", "/socket.io/?EIO=4&transport=polling", "gateway"),
        ("GET", "/ops/", "gateway"),
        ("GET", "/", "gateway"),
    ],
)
async def test_each_route_reaches_its_service(
    proxy: Proxy, method: str, path: str, upstream: str
) -> None:
    status, body = await fetch(proxy, method, path, data=b"{}" if method == "POST" else None)
    assert status == 200
    assert body == {"upstream": upstream, "path": path}


async def raw_get(proxy: Proxy, path: str) -> int:
    """The status of a GET sent byte for byte: an HTTP client library would normalize "//",
    "/./", ".." and "%6D" before sending, which is exactly what must be tried here."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    finally:
        writer.close()
    return int(status_line.split()[1])


@pytest.mark.parametrize(
    "path",
    [
        "/metrics",
        "/healthz",
        "/readyz",
        "/metrics/",
        "/readyz?full=1",
        "/METRICS",
        "//metrics",
        "/./healthz",
        "/marketplace/../metrics",
        "/%6Detrics",
    ],
)
async def test_operational_endpoints_are_not_reachable_from_outside(
    proxy: Proxy, path: str
) -> None:
    before = len(proxy.gateway.seen) + len(proxy.ingest.seen)
    assert await raw_get(proxy, path) == 404
    assert len(proxy.gateway.seen) + len(proxy.ingest.seen) == before


async def test_websocket_upgrades_pass_through_to_the_gateway(proxy: Proxy) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"ws://127.0.0.1:{proxy.port}/socket.io/?EIO=4&transport=websocket") as ws,
    ):
        await ws.send_str("ping")
        assert (await ws.receive(timeout=5)).data == "gateway:ping"


async def test_a_client_cannot_forge_its_address(proxy: Proxy) -> None:
    await fetch(
        proxy, "GET", "/marketplace/onboarding?forged", headers={"X-Forwarded-For": "6.6.6.6"}
    )
    forwarded = [
        seen[2] for seen in proxy.gateway.seen if seen[1] == "/marketplace/onboarding?forged"
    ]
    assert forwarded == ["127.0.0.1"]


async def test_a_body_sent_too_slowly_is_cut(proxy: Proxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(
        b"POST /callback/yclients/slow-body HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    )
    await writer.drain()
    started = time.monotonic()
    try:
        while time.monotonic() - started < 40:  # a byte a second, for up to 40 s
            try:
                answered = await asyncio.wait_for(reader.read(1024), timeout=1)
            except TimeoutError:
                writer.write(b" ")
                await writer.drain()
                continue
            if answered or reader.at_eof():
                break
    except ConnectionError:
        pass
    finally:
        writer.close()
    held = time.monotonic() - started
    assert held < 20, f"the slow body was held open for {held:.0f} s"
    assert not any(seen[1] == "/callback/yclients/slow-body" for seen in proxy.ingest.seen)
