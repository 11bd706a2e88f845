"""The composition root: operational routes, infrastructure, spool, forwarder and recorder."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from shared.runtime import (
    INFRA,
    add_operational_routes,
    background_ctx,
    bounded_bodies,
    infrastructure_ctx,
    start_consumer,
)
from shared.topology import ALL_QUEUES, EVENT_RECORDER
from webhook_ingest.company_secrets import CompanySecrets
from webhook_ingest.delivery import SPOOL_BYTES, Delivery
from webhook_ingest.http_api import INGEST, Ingest, add_callback_routes, json_errors
from webhook_ingest.recorder import HANDLERS, record_batch
from webhook_ingest.settings import IngestSettings
from webhook_ingest.spool import claim_slot


def create_app(settings: IngestSettings) -> web.Application:
    # aiohttp refuses larger bodies itself; the handler turns that into a JSON 413.
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[json_errors, bounded_bodies(settings.body_timeout_seconds)],
    )
    add_operational_routes(app)
    add_callback_routes(app)
    app.cleanup_ctx.append(infrastructure_ctx(settings, declare=ALL_QUEUES))
    app.cleanup_ctx.append(background_ctx("ingest", _start_ingest(settings)))
    if settings.recorder_enabled:
        app.cleanup_ctx.append(background_ctx("recorder", _start_recorder(settings)))
    return app


def _start_ingest(
    settings: IngestSettings,
) -> Callable[[web.Application], Awaitable[Callable[[], Awaitable[None]]]]:
    async def start(app: web.Application) -> Callable[[], Awaitable[None]]:
        infra = app[INFRA]
        spool = claim_slot(settings.spool_dir)
        SPOOL_BYTES.set_function(spool.pending_bytes)
        delivery = Delivery(
            infra.publisher,
            infra.broker_up,
            spool,
            settings.publish_timeout_seconds,
            settings.max_publishes_in_flight,
            settings.spool_max_bytes,
        )
        secrets = CompanySecrets(infra.database, settings.secret_cache_ttl_seconds)
        app[INGEST] = Ingest(settings, secrets, delivery)
        forwarder = asyncio.create_task(delivery.run_forwarder())

        async def stop() -> None:
            forwarder.cancel()
            await asyncio.gather(forwarder, return_exceptions=True)
            spool.close()

        return stop

    return start


def _start_recorder(
    settings: IngestSettings,
) -> Callable[[web.Application], Awaitable[Callable[[], Awaitable[None]]]]:
    async def start(app: web.Application) -> Callable[[], Awaitable[None]]:
        # Batches of events in one transaction each; HANDLERS for the one-by-one fallback.
        return await start_consumer(
            app, EVENT_RECORDER, HANDLERS, settings, batch_handler=record_batch
        )

    return start
