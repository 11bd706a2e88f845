"""The gateway's composition root: routes, Socket.IO, the relay consumer, security headers."""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import socketio
from aiohttp import web

from gateway import api, demo
from gateway.context import INSTALLATIONS, LIMITS, SETTINGS, SOCKETS, TRUSTED_PROXIES
from gateway.errors import friendly_errors
from gateway.handlers import handlers
from gateway.installations import Installations
from gateway.realtime import NAMESPACE, MarketplaceNamespace, emitter
from gateway.redirect import yclients_redirect
from gateway.revocations import OpenPages
from gateway.security import security_headers
from gateway.settings import GatewaySettings
from gateway.sweeper import run_sweeper
from shared.refusals import refusals
from shared.runtime import (
    INFRA,
    add_operational_routes,
    background_ctx,
    bounded_bodies,
    infrastructure_ctx,
    start_consumer,
    task_ctx,
)
from shared.topology import ALL_QUEUES, GATEWAY_RELAY
from shared.yclients import Retry, client_for

PACKAGE_DIR = Path(__file__).parent


def _onboarding_page(
    return_url: str, demo_on: bool
) -> Callable[[web.Request], Awaitable[web.Response]]:
    template = (PACKAGE_DIR / "pages" / "onboarding.html").read_text(encoding="utf-8")
    body = (
        template.replace("{{RETURN_URL}}", html.escape(return_url))
        .replace("<!--{{DEMO_SCAN}}-->", demo.SCAN_BUTTON if demo_on else "")
        .encode()
    )

    async def onboarding_page(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    return onboarding_page


def _relay(
    sio: socketio.AsyncServer,
) -> Callable[[web.Application], Awaitable[Callable[[], Awaitable[None]]]]:
    async def start(app: web.Application) -> Callable[[], Awaitable[None]]:
        return await start_consumer(app, GATEWAY_RELAY, handlers(emitter(sio)), app[SETTINGS])

    return start


def _revocations(
    sio: socketio.AsyncServer,
) -> Callable[[web.Application], Awaitable[Callable[[], Awaitable[None]]]]:
    async def start(app: web.Application) -> Callable[[], Awaitable[None]]:
        return await OpenPages(sio, NAMESPACE).start(app[INFRA])

    return start


async def _socketio_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start listening to the other instances' emits now, not at the first browser."""
    sio = app[SOCKETS]
    sio.manager_initialized = True
    sio.manager.initialize()
    yield
    await sio.shutdown()
    listener = getattr(sio.manager, "thread", None)
    if isinstance(listener, asyncio.Future):
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener


def _yclients_ctx(
    settings: GatewaySettings,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as http:
            # An admin is waiting on the redirect: one short try, else our data stands.
            yclients = client_for(http, settings, retry=Retry(attempts=1), timeout_seconds=3)
            app[INSTALLATIONS] = Installations(yclients)
            yield

    return ctx


async def _end_sockets(app: web.Application) -> None:
    """On SIGTERM, once the port is closed and before aiohttp waits for open requests: end every
    browser's websocket.

    An open websocket is a request in progress, so aiohttp would otherwise wait the whole
    shutdown grace for each one (and then cancel it) before stopping. The transport is ended
    without a Socket.IO "disconnect", which would tell the page not to come back: the page sees
    a dropped connection and reconnects by itself, to the next instance.
    """
    for socket in list(app[SOCKETS].eio.sockets.values()):
        # What engine.io itself does to end a socket's writer: it then closes the websocket.
        await socket.queue.put(None)


def create_app(settings: GatewaySettings) -> web.Application:
    app = web.Application(
        middlewares=[refusals(), friendly_errors, bounded_bodies(settings.body_timeout_seconds)]
    )
    app[SETTINGS] = settings
    origins = settings.origins()
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=socketio.AsyncAioPikaManager(
            settings.amqp_url, channel=settings.socketio_channel
        ),
        # No list: the page's own origin only.
        cors_allowed_origins=origins or None,
    )
    app[LIMITS] = settings.limits()
    app[TRUSTED_PROXIES] = settings.trusted_networks()
    sio.register_namespace(
        MarketplaceNamespace(lambda: app[INFRA], settings, app[LIMITS], app[TRUSTED_PROXIES])
    )
    sio.attach(app)
    app[SOCKETS] = sio

    add_operational_routes(app)
    app.router.add_get("/auth/yclients/redirect", yclients_redirect)
    demo_on = settings.demo_phone_url is not None
    app.router.add_get(
        "/marketplace/onboarding", _onboarding_page(settings.yclients_return_url, demo_on)
    )
    app.router.add_static("/marketplace/static/", PACKAGE_DIR / "static", append_version=False)
    api.add_routes(app)
    app.on_response_prepare.append(security_headers(settings))
    app.on_shutdown.append(_end_sockets)

    app.cleanup_ctx.append(infrastructure_ctx(settings, declare=ALL_QUEUES))
    app.cleanup_ctx.append(_yclients_ctx(settings))
    app.cleanup_ctx.append(_socketio_ctx)
    app.cleanup_ctx.append(background_ctx("relay", _relay(sio)))
    app.cleanup_ctx.append(background_ctx("revocations", _revocations(sio)))
    app.cleanup_ctx.append(
        task_ctx(
            "sweeper",
            lambda app: run_sweeper(
                app[INFRA].database,
                app[INFRA].outbox,
                timedelta(seconds=settings.abandoned_after_seconds),
                settings.sweep_interval_seconds,
            ),
        )
    )
    if demo_on:
        demo.add_demo(app)
    return app


__all__ = ["create_app"]
