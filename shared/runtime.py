"""What every service process has: broker and database connections owned by the aiohttp app's
cleanup context, ``/healthz``, ``/readyz`` and ``/metrics``, and a clear exit when a
dependency is not reachable at start."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog
import uvloop
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web
from aiohttp.typedefs import Handler as HttpHandler
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from shared.bus import BatchConsumer, BatchHandler, Consumer, Handlers, Outbox, Publisher, connect
from shared.db import Database
from shared.metrics import HTTP_REQUESTS, HTTP_SECONDS, INSTANCE
from shared.refusals import route_name
from shared.settings import CommonSettings
from shared.topology import QueueSpec, declare_queue

log = structlog.get_logger(__name__)

MAX_LINE_BYTES = 16 * 1024
# A batch consumer takes at least this many messages at a time (two batches of 256 in hand).
BATCH_PREFETCH = 512


@dataclass
class Infrastructure:
    database: Database
    connection: AbstractRobustConnection
    publisher: Publisher
    outbox: Outbox

    def broker_up(self) -> bool:
        conn = self.connection
        return not conn.is_closed and not conn.reconnecting and conn.transport is not None

    async def database_up(self) -> bool:
        try:
            await asyncio.wait_for(self.database.ping(), timeout=2)
        except Exception:
            return False
        return True


INFRA = web.AppKey("infrastructure", Infrastructure)


class DependencyUnavailable(SystemExit):
    pass


def _unreachable(what: str, url: str, hint: str, exc: BaseException) -> DependencyUnavailable:
    safe_url = url.split("@")[-1]
    print(
        f"{what} is not reachable at {safe_url}: {exc.__class__.__name__}: {exc}\n"
        f"Start it with: {hint}",
        file=sys.stderr,
    )
    return DependencyUnavailable(3)


async def open_infrastructure(settings: CommonSettings, pool_size: int = 10) -> Infrastructure:
    database = Database(settings.database_url, pool_size=pool_size)
    try:
        await asyncio.wait_for(database.ping(), timeout=10)
    except Exception as exc:
        await database.dispose()
        raise _unreachable(
            "PostgreSQL",
            settings.database_url,
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
            "  (then `make migrate`)",
            exc,
        ) from None
    try:
        connection = await asyncio.wait_for(connect(settings.amqp_url), timeout=10)
    except Exception as exc:
        await database.dispose()
        raise _unreachable(
            "RabbitMQ", settings.amqp_url, "rabbitmq-server -detached  (then `make run`)", exc
        ) from None
    publisher = await Publisher.open(connection)
    return Infrastructure(database, connection, publisher, Outbox(database, publisher))


async def close_infrastructure(infra: Infrastructure) -> None:
    await infra.publisher.close()
    await infra.connection.close()
    await infra.database.dispose()


def infrastructure_ctx(
    settings: CommonSettings, declare: tuple[QueueSpec, ...] = (), pool_size: int = 10
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that opens the connections, declares queues and runs the outbox relay."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        infra = await open_infrastructure(settings, pool_size)
        channel = await infra.connection.channel()
        for spec in declare:
            await declare_queue(channel, spec)
        await channel.close()
        app[INFRA] = infra
        relay = asyncio.create_task(infra.outbox.run_relay())
        yield
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await close_infrastructure(infra)

    return ctx


def background_ctx(
    name: str, start: Callable[[web.Application], Awaitable[Callable[[], Awaitable[None]]]]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context around something with a start and a stop (a consumer, a supervisor)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        stop = await start(app)
        log.info("started", component=name)
        yield
        await stop()
        log.info("stopped", component=name)

    return ctx


def task_ctx(
    name: str, run: Callable[[web.Application], Coroutine[Any, Any, None]]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context around one long-running coroutine (a loop): started with the app,
    cancelled when it stops."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(run(app), name=name)
        log.info("started", component=name)
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        log.info("stopped", component=name)

    return ctx


async def start_consumer(
    app: web.Application,
    spec: QueueSpec,
    handlers: Handlers,
    settings: CommonSettings,
    batch_handler: BatchHandler | None = None,
) -> Callable[[], Awaitable[None]]:
    """Consume ``spec`` with the app's connections; returns the graceful stop.

    With ``batch_handler`` (idempotent by itself) it is a ``BatchConsumer``: batches in one
    unit of work each, ``handlers`` only for the one-by-one fallback.
    """
    infra = app[INFRA]
    common: dict[str, Any] = {
        "connection": infra.connection,
        "spec": spec,
        "handlers": handlers,
        "database": infra.database,
        "outbox": infra.outbox,
        "publisher": infra.publisher,
    }
    consumer = (
        Consumer(**common, prefetch=settings.prefetch)
        if batch_handler is None
        else BatchConsumer(
            **common, batch_handler=batch_handler, prefetch=max(settings.prefetch, BATCH_PREFETCH)
        )
    )
    await consumer.start()

    async def stop() -> None:
        await consumer.stop(settings.shutdown_grace_seconds)

    return stop


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    infra = request.app.get(INFRA)
    broker = infra is not None and infra.broker_up()
    database = infra is not None and await infra.database_up()
    ready = broker and database
    return web.json_response(
        {"ready": ready, "broker": broker, "database": database}, status=200 if ready else 503
    )


async def metrics(_request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest(REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


@web.middleware
async def http_metrics(request: web.Request, handler: HttpHandler) -> web.StreamResponse:
    """Count every answer by route and status."""
    name = route_name(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        HTTP_REQUESTS.labels(request.method, name, str(status)).inc()
        HTTP_SECONDS.labels(name).observe(time.perf_counter() - started)


def bounded_bodies(seconds: float) -> Middleware:
    """A middleware that gives a request ``seconds`` to send its whole body, then answers 408.

    A client trickling a body byte by byte would otherwise hold a connection (and a handler)
    for as long as it likes. The body is read here and kept by aiohttp, so the handler's own
    ``read()`` returns it at once. The proxy bounds it too; this holds without the proxy.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: HttpHandler) -> web.StreamResponse:
        if request.can_read_body:
            try:
                async with asyncio.timeout(seconds):
                    await request.read()
            except TimeoutError:
                raise web.HTTPRequestTimeout() from None
        return await handler(request)

    return middleware


def add_operational_routes(app: web.Application) -> None:
    app.middlewares.append(http_metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def _freeze_startup_heap(_app: web.Application) -> None:
    """Keep what startup built (modules, schemas, connections) out of every later garbage
    collection: full collections then walk only new objects, which takes the p99 of a loaded
    webhook-ingest from about 60 ms to about 25 ms (bench/webhook_ingest_bench.py)."""
    gc.freeze()


def run(app: web.Application, settings: CommonSettings) -> None:
    """Serve until SIGINT/SIGTERM; aiohttp then runs the cleanup contexts (graceful stop)."""
    INSTANCE.info({"service": settings.service_name, "instance": settings.instance_id})
    app.on_startup.append(_freeze_startup_heap)
    web.run_app(
        app,
        host=settings.http_host,
        port=settings.http_port,
        print=None,
        access_log=None,
        shutdown_timeout=settings.shutdown_grace_seconds,
        reuse_port=settings.http_reuse_port or None,
        loop=uvloop.new_event_loop(),
        # Twice aiohttp's default line length: a long URL reaches the service, which refuses it
        # in its own words, instead of aiohttp's bare English 400.
        max_line_size=MAX_LINE_BYTES,
        max_field_size=MAX_LINE_BYTES,
    )
