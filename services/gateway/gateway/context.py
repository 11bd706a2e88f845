"""Typed keys for what the gateway keeps on its aiohttp application."""

from __future__ import annotations

import socketio
from aiohttp import web

from gateway.installations import Installations
from gateway.qr_limits import QrRequestLimits
from gateway.settings import GatewaySettings

SETTINGS = web.AppKey("gateway_settings", GatewaySettings)
SOCKETS = web.AppKey("socketio_server", socketio.AsyncServer)
QR_LIMITS = web.AppKey("qr_request_limits", QrRequestLimits)
INSTALLATIONS = web.AppKey("installations", Installations)
