"""`create_app(config)`: the partner API, the notification module, the pages and the control API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from yclients_sandbox import (
    control_api,
    marketplace_page,
    partner_api,
    payment_page,
    salon_panel,
    smsprovider,
)
from yclients_sandbox.clock import Clock
from yclients_sandbox.config import SandboxConfig
from yclients_sandbox.keys import BACKGROUND, CONFIG, LIMITER, SENDER, STATE
from yclients_sandbox.middleware import partner_gate
from yclients_sandbox.ratelimit import RateLimiter
from yclients_sandbox.scheduler import Scheduler
from yclients_sandbox.state import SandboxState
from yclients_sandbox.webhooks import WebhookSender

USER_AGENT = "YClients-Webhooks/1.0 (sandbox)"


async def senders_and_timer(app: web.Application) -> AsyncIterator[None]:
    """The HTTP client every send goes out with, and the timer of reminders and trials."""
    config = app[CONFIG]
    async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as session:
        app[SENDER] = WebhookSender(
            session,
            app[STATE].clock,
            timeout_seconds=config.webhook_timeout_seconds,
            retries=config.webhook_retries,
            retry_delay_seconds=config.webhook_retry_delay_seconds,
        )
        state = app[STATE]
        scheduler = Scheduler()
        state.listeners.append(scheduler.poke)
        state.clock.listeners.append(scheduler.poke)
        timer = asyncio.create_task(scheduler.run(app))
        yield
        state.listeners.remove(scheduler.poke)
        state.clock.listeners.remove(scheduler.poke)
        background = {timer, *app[BACKGROUND]}
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)


def create_app(config: SandboxConfig) -> web.Application:
    app = web.Application(middlewares=[partner_gate])
    app[CONFIG] = config
    app[STATE] = SandboxState(config, Clock())
    app[LIMITER] = RateLimiter(config.rate_per_second, config.rate_per_minute)
    app[BACKGROUND] = set()
    app.cleanup_ctx.append(senders_and_timer)
    app.add_routes(partner_api.routes)
    app.add_routes(marketplace_page.routes)
    app.add_routes(salon_panel.routes)
    app.add_routes(payment_page.routes)
    app.add_routes(smsprovider.routes)
    app.add_routes(control_api.routes)
    return app
