"""Typed keys of what the application holds."""

from __future__ import annotations

import asyncio

from aiohttp import web

from yclients_sandbox.config import SandboxConfig
from yclients_sandbox.ratelimit import RateLimiter
from yclients_sandbox.state import SandboxState
from yclients_sandbox.webhooks import WebhookSender

CONFIG = web.AppKey("config", SandboxConfig)
STATE = web.AppKey("state", SandboxState)
LIMITER = web.AppKey("limiter", RateLimiter)
SENDER = web.AppKey("sender", WebhookSender)
BACKGROUND: web.AppKey[set[asyncio.Task[object]]] = web.AppKey("background")
