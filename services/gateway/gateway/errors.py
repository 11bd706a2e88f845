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
    408: ("request_timeout", "Запрос не дошёл целиком. Проверьте интернет и попробуйте ещё раз."),
    413: ("request_too_large", "Запрос слишком большой."),
}


# A longer address is no link YClients or our page would make.
MAX_URL_BYTES = 8 * 1024


@web.middleware
async def friendly_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if len(request.raw_path) > MAX_URL_BYTES:
        return pages.url_too_long()
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
