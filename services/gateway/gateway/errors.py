"""aiohttp's own errors (unknown paths, wrong methods, slow or large bodies): a refusal with a
Russian message for the API, a Russian page for browsers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway import pages
from shared.refusals import as_refusal

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API_PREFIX = "/marketplace/api/"
API_MESSAGES = {
    404: "Нет такого адреса API.",
    405: "Этот метод здесь не поддерживается.",
    408: "Запрос не дошёл целиком. Проверьте интернет и попробуйте ещё раз.",
    413: "Запрос слишком большой.",
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
            raise as_refusal(exc, API_MESSAGES.get(exc.status, "Неверный запрос.")) from None
        if exc.status == 404:
            return pages.not_found()
        raise
