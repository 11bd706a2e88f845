"""YClients' answer format: `{"success": bool, "data": ..., "meta": ...}`, and its firewall page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

STATUS_MESSAGES = {
    400: "Некорректный запрос.",
    401: "Необходима авторизация.",
    403: "Доступ запрещён.",
    404: "Не найдено.",
    405: "Метод не поддерживается.",
    422: "Ошибка валидации.",
    429: "Превышен лимит запросов.",
    500: "Внутренняя ошибка сервера.",
    502: "Сервис временно недоступен.",
    503: "Сервис временно недоступен.",
}


def ok(data: Any, status: int = 200, meta: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"success": True, "data": data, "meta": meta or {}}, status=status)


def error(
    status: int,
    message: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    code: int | None = None,
) -> web.Response:
    meta: dict[str, Any] = {"message": message or STATUS_MESSAGES.get(status, "Ошибка.")}
    if errors is not None:
        meta["errors"] = errors
    if code is not None:
        meta["code"] = code
    body = {"success": False, "data": None, "meta": meta}
    return web.json_response(body, status=status, headers=headers)


FIREWALL_PAGE = """<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>403 Forbidden</title></head>
<body><h1>403 Forbidden</h1><p>Доступ запрещён: запрос отклонён защитой сайта.</p></body></html>
"""


def firewall_page(status: int = 403) -> web.Response:
    return web.Response(text=FIREWALL_PAGE, status=status, content_type="text/html")
