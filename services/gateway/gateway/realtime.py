"""Socket.IO namespace ``/marketplace``: the onboarding page's live connection.

Each browser joins the room named by its connection id; ``handlers`` relays the bus events to
these rooms from any gateway instance, and the Socket.IO client manager (aio-pika) fans each
emit out to the instance that holds the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import socketio
import structlog

from gateway import actions
from gateway.actions import token_refused
from gateway.client_address import Network, client_address
from gateway.handlers import Emit
from gateway.limits import GatewayLimits
from gateway.settings import GatewaySettings
from gateway.tokens import OnboardingClaims
from shared.refusals import Refusal
from shared.runtime import Infrastructure

log = structlog.get_logger(__name__)

NAMESPACE = "/marketplace"


def refusal_event(refusal: Refusal) -> dict[str, Any]:
    """A refusal as the page shows it: the message and the next step it offers."""
    action = {401: "restart", 429: "request-qr"}.get(refusal.status)
    return {"code": refusal.code, "message": refusal.message, "action": action}


class MarketplaceNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Holds its dependencies only; what a client is lives in its Socket.IO session.

    The token is checked at connect and again on every client event (it may have been revoked
    meanwhile), and a socket is ended when its token expires, so an open page never outlives it.
    A refusal raised by any handler reaches the page as an ``error`` event (see trigger_event).
    """

    def __init__(
        self,
        infra: Callable[[], Infrastructure],
        settings: GatewaySettings,
        limits: GatewayLimits,
        trusted_proxies: list[Network],
    ) -> None:
        super().__init__(NAMESPACE)
        self._infra = infra
        self._settings = settings
        self._limits = limits
        self._trusted_proxies = trusted_proxies

    async def _authenticate(self, token: object) -> OnboardingClaims:
        return await actions.authenticate(
            self._infra(),
            token if isinstance(token, str) else None,
            self._settings.jwt_secret.get_secret_value(),
        )

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        claims = await self._authenticate(token)
        expiry = asyncio.get_running_loop().call_later(
            (claims.expires_at - datetime.now(UTC)).total_seconds(),
            lambda: asyncio.ensure_future(self._end(sid, token_refused("expired"))),
        )
        address = client_address(environ["aiohttp.request"], self._trusted_proxies)
        await self.save_session(sid, {"token": token, "expiry": expiry, "address": address})
        await self.enter_room(sid, str(claims.connection_id))
        await self._send_status(sid, claims.connection_id)

    async def on_disconnect(self, sid: str, *_reason: Any) -> None:
        with contextlib.suppress(KeyError):
            (await self.get_session(sid))["expiry"].cancel()

    async def _end(self, sid: str, refusal: Refusal) -> None:
        await self.emit("error", refusal_event(refusal), to=sid)
        await self.disconnect(sid)

    async def _connection(self, sid: str) -> uuid.UUID:
        """The socket's connection, if its token still holds (else a 401 refusal ends it)."""
        claims = await self._authenticate((await self.get_session(sid)).get("token"))
        return claims.connection_id

    async def _send_status(self, sid: str, connection_id: uuid.UUID) -> None:
        state = await actions.current_state(self._infra(), connection_id)
        await self.emit("status", state.to_json(), to=sid)

    async def on_check_status(self, sid: str, _data: Any = None) -> None:
        await self._send_status(sid, await self._connection(sid))

    async def on_request_qr(self, sid: str, data: Any = None) -> None:
        connection_id = await self._connection(sid)
        phone = data.get("phone") if isinstance(data, dict) else None
        address = (await self.get_session(sid))["address"]
        await actions.request_qr(self._infra(), self._limits, connection_id, phone, address)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Every event's refusals in one place: at connect the socket is refused, later the
        page gets an ``error``; a token that no longer holds (401) ends the socket."""
        try:
            # Client event names have dashes ("request-qr"); handlers cannot.
            return await super().trigger_event(event.replace("-", "_"), *args)
        except Refusal as refusal:
            if event == "connect":
                raise socketio.exceptions.ConnectionRefusedError(
                    refusal.message, refusal_event(refusal)
                ) from None
            sid = args[0]
            if refusal.status == 401:
                await self._end(sid, refusal)
            else:
                await self.emit("error", refusal_event(refusal), to=sid)
            return None


def emitter(sio: socketio.AsyncServer) -> Emit:
    """Emits to a connection's room on whichever gateway instance holds its page."""

    async def emit(event: str, data: dict[str, Any], room: str) -> None:
        await sio.emit(event, data, room=room, namespace=NAMESPACE)
        # Never the data: a QR string is a credential for the next 20 seconds.
        log.info("relayed", socket_event=event, room=room)

    return emit
