"""Typed keys for what the gateway keeps on its aiohttp application."""

from __future__ import annotations

import socketio
from aiohttp import web

from gateway.client_address import Network
from gateway.installations import Installations
from gateway.limits import GatewayLimits
from gateway.settings import GatewaySettings

SETTINGS = web.AppKey("gateway_settings", GatewaySettings)
SOCKETS = web.AppKey("socketio_server", socketio.AsyncServer)
LIMITS = web.AppKey("limits", GatewayLimits)
TRUSTED_PROXIES: web.AppKey[list[Network]] = web.AppKey("trusted_proxies")
INSTALLATIONS = web.AppKey("installations", Installations)
