"""Unknown paths and wrong methods: JSON for the API, a Russian page for browsers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway import pages

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API_PREFIX = "/marketplace/api/"
API_MESSAGES = {
    404: ("not_found", "Нет такого адреса API."),
    405: ("method_not_allowed", "Этот метод здесь не поддерживается."),
}


@web.middleware
async def friendly_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if request.path.startswith(API_PREFIX):
            code, message = API_MESSAGES.get(exc.status, ("bad_request", "Неверный запрос."))
            return web.json_response({"error": code, "message": message}, status=exc.status)
        if exc.status == 404:
            return pages.not_found()
        raise
