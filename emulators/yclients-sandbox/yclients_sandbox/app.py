"""`create_app(config)`: the partner API, the marketplace page and the control API in one app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from yclients_sandbox import control_api, marketplace_page, partner_api
from yclients_sandbox.config import SandboxConfig
from yclients_sandbox.keys import BACKGROUND, CONFIG, LIMITER, SENDER, STATE
from yclients_sandbox.middleware import partner_gate
from yclients_sandbox.ratelimit import RateLimiter
from yclients_sandbox.state import Clock, SandboxState
from yclients_sandbox.webhooks import WebhookSender

USER_AGENT = "YClients-Webhooks/1.0 (sandbox)"


async def webhook_sender(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as session:
        app[SENDER] = WebhookSender(
            session,
            app[STATE].clock,
            timeout_seconds=config.webhook_timeout_seconds,
            retries=config.webhook_retries,
            retry_delay_seconds=config.webhook_retry_delay_seconds,
        )
        yield
        background = app[BACKGROUND]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)


def create_app(config: SandboxConfig) -> web.Application:
    app = web.Application(middlewares=[partner_gate])
    app[CONFIG] = config
    app[STATE] = SandboxState(config, Clock())
    app[LIMITER] = RateLimiter(config.rate_per_second, config.rate_per_minute)
    app[BACKGROUND] = set()
    app.cleanup_ctx.append(webhook_sender)
    app.add_routes(partner_api.routes)
    app.add_routes(marketplace_page.routes)
    app.add_routes(control_api.routes)
    return app
