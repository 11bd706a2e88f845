"""The REST API under ``/marketplace/api/``, authenticated by the onboarding token."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from gateway import actions
from gateway.client_address import client_address
from gateway.context import LIMITS, SETTINGS, TRUSTED_PROXIES
from gateway.openapi import OPENAPI
from shared.refusals import Refusal
from shared.runtime import INFRA


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def connection_of(request: web.Request) -> uuid.UUID:
    """The connection whose onboarding token the request carries as its Bearer."""
    claims = await actions.authenticate(
        request.app[INFRA],
        bearer_token(request),
        request.app[SETTINGS].jwt_secret.get_secret_value(),
    )
    return claims.connection_id


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        body = json.loads(await request.read() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refusal(400, "bad_json", "Тело запроса должно быть JSON-объектом.") from None
    if not isinstance(body, dict):
        raise Refusal(400, "bad_json", "Тело запроса должно быть JSON-объектом.")
    return body


async def post_qr(request: web.Request) -> web.Response:
    connection_id = await connection_of(request)
    body = await _json_body(request)
    mode = await actions.request_qr(
        request.app[INFRA],
        request.app[LIMITS],
        connection_id,
        body.get("phone"),
        client_address(request, request.app[TRUSTED_PROXIES]),
    )
    return web.json_response({"sessionId": str(connection_id), "mode": mode}, status=202)


async def get_status(request: web.Request) -> web.Response:
    connection_id = await connection_of(request)
    try:
        asked = uuid.UUID(request.match_info["session_id"])
    except ValueError:
        raise Refusal(400, "bad_session_id", "Неверный номер сессии.") from None
    if asked != connection_id:
        raise Refusal(403, "forbidden", "Эта сессия принадлежит другому подключению.")
    state = await actions.current_state(request.app[INFRA], connection_id)
    return web.json_response(state.to_json())


async def post_activate(request: web.Request) -> web.Response:
    connection_id = await connection_of(request)
    await actions.activate(request.app[INFRA], connection_id)
    return web.json_response(
        {"sessionId": str(connection_id), "activation": "requested"}, status=202
    )


async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/marketplace/api/qr", post_qr)
    app.router.add_get("/marketplace/api/status/{session_id}", get_status)
    app.router.add_post("/marketplace/api/activate", post_activate)
    app.router.add_get("/marketplace/api/openapi.json", openapi)
