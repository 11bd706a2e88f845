"""Typed keys for what the gateway keeps on its aiohttp application."""

from __future__ import annotations

import socketio
from aiohttp import web

from gateway.settings import GatewaySettings

SETTINGS = web.AppKey("gateway_settings", GatewaySettings)
SOCKETS = web.AppKey("socketio_server", socketio.AsyncServer)
