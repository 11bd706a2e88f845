"""``create_app(settings)``: operational routes, broker and database, the YClients client, the
consumer of ``activation.inbox``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from activation.dependencies import Dependencies
from activation.handlers import routes
from activation.settings import ActivationSettings
from shared.runtime import (
    INFRA,
    add_operational_routes,
    background_ctx,
    infrastructure_ctx,
    start_consumer,
)
from shared.topology import ACTIVATION_INBOX, ALL_QUEUES
from shared.yclients import client_for

HTTP = web.AppKey("yclients_http", aiohttp.ClientSession)


def create_app(settings: ActivationSettings) -> web.Application:
    app = web.Application()
    add_operational_routes(app)
    app.cleanup_ctx.append(
        infrastructure_ctx(settings, declare=ALL_QUEUES, pool_size=settings.database_pool_size)
    )
    app.cleanup_ctx.append(http_session_ctx)
    app.cleanup_ctx.append(background_ctx("activation.inbox", inbox_consumer(settings)))
    return app


async def http_session_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[HTTP] = session
        yield


def inbox_consumer(
    settings: ActivationSettings,
) -> Callable[[web.Application], Awaitable[Callable[[], Awaitable[None]]]]:
    async def start(app: web.Application) -> Callable[[], Awaitable[None]]:
        infra = app[INFRA]
        deps = Dependencies(settings, infra.database, infra.outbox, client_for(app[HTTP], settings))
        return await start_consumer(app, ACTIVATION_INBOX, routes(deps), settings)

    return start
