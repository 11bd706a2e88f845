"""The wa-session process: health and metrics over HTTP, the bridge, the leases, the commands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from shared.runtime import (
    INFRA,
    add_operational_routes,
    background_ctx,
    infrastructure_ctx,
    start_consumer,
)
from shared.topology import ALL_QUEUES, WA_SESSION_COMMANDS
from wa_session import wakeups
from wa_session.auth_store import AuthStore
from wa_session.bridge import Bridge
from wa_session.commands import HANDLERS
from wa_session.leases import LeaseKeeper
from wa_session.sessions import SessionManager
from wa_session.settings import WaSessionSettings


def create_app(settings: WaSessionSettings) -> web.Application:
    app = web.Application()
    add_operational_routes(app)
    app.cleanup_ctx.append(infrastructure_ctx(settings, declare=ALL_QUEUES))

    async def start_sessions(app: web.Application) -> Callable[[], Awaitable[None]]:
        infra = app[INFRA]
        manager = SessionManager(
            infra.database, infra.outbox, settings.instance_id, settings.lease_ttl_seconds
        )
        auth = AuthStore(infra.database, settings.keyring(), settings.instance_id)
        bridge = Bridge(
            settings,
            auth,
            epoch_of=manager.epoch_of,
            on_event=manager.on_event,
            on_restart=manager.bridge_restarted,
            on_exit=manager.bridge_exited,
        )
        manager.bridge = bridge
        await bridge.start()
        keeper = LeaseKeeper(infra.database, settings, manager)
        keeper_task = asyncio.create_task(keeper.run())
        stop_listening = await wakeups.listen(
            settings.database_url, settings.instance_id, keeper.wake
        )

        async def stop() -> None:
            # Hand over: stop taking sessions, close every socket WITHOUT logging out, then
            # release the leases so another instance resumes them at once.
            await stop_listening()
            keeper_task.cancel()
            await asyncio.gather(keeper_task, return_exceptions=True)
            handed_over = manager.handover()
            await bridge.stop()
            await manager.release_all(handed_over)

        return stop

    async def start_commands(app: web.Application) -> Callable[[], Awaitable[None]]:
        return await start_consumer(app, WA_SESSION_COMMANDS, HANDLERS, settings)

    app.cleanup_ctx.append(background_ctx("sessions", start_sessions))
    app.cleanup_ctx.append(background_ctx("commands", start_commands))
    return app
