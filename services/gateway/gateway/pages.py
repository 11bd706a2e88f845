"""The Russian pages the browser gets from the redirect: errors and "already connected".

Rendered server-side with every value escaped; no inline script, the stylesheet is ours.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from gateway.limits import wait_phrase
from gateway.onboarding import Salon

TRY_AGAIN = "Вернитесь в YClients и нажмите «Подключить» ещё раз."

REDIRECT_ERRORS: dict[str, str] = {
    "no_salon_id": "В ссылке из YClients нет ни одного филиала.",
    "bad_salon_id": "В ссылке из YClients неверный номер филиала.",
    "too_many_salons": "Слишком много филиалов в одной ссылке. Подключите их частями.",
    "user_data_missing": "YClients не передал данные пользователя.",
    "signature_missing": "В ссылке из YClients нет подписи.",
    "signature_without_user_data": "Ссылка из YClients неполная.",
    "user_data_not_base64": "Данные пользователя в ссылке повреждены.",
    "user_data_not_json": "Данные пользователя в ссылке повреждены.",
    "bad_signature": "Подпись ссылки не совпадает: ссылка изменена или устарела.",
}

STATUS_LABELS = {
    "pending": "ожидает подключения WhatsApp",
    "activating": "подключается в YClients",
    "active": "подключено",
    "activation_failed": "ошибка подключения",
    "frozen": "приостановлено (не оплачено)",
    "uninstalled": "отключено",
}


def _page(title: str, body: str, status: int) -> web.Response:
    html = f"""<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — AI Admin</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/marketplace/static/onboarding.css">
</head>
<body>
<main class="card">
<h1>{escape(title)}</h1>
{body}
</main>
</body>
</html>
"""
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def redirect_error(reason: str, status: int) -> web.Response:
    problem = REDIRECT_ERRORS.get(reason, "Ссылка из YClients неверна.")
    body = (
        f'<p class="error" data-reason="{escape(reason)}">{escape(problem)}</p>'
        f'<p class="next-step">{escape(TRY_AGAIN)}</p>'
    )
    return _page("Не удалось начать подключение", body, status)


def already_connected(salons: list[Salon] | None, return_url: str) -> web.Response:
    """``salons`` only for the YClients user who connected them; anyone else learns nothing
    about them (a signed redirect of one's own names any salon id)."""
    items = "".join(
        f"<li>{escape(salon.name or f'Филиал {salon.id}')}: "
        f"<strong>{escape(STATUS_LABELS.get(salon.status, salon.status))}</strong></li>"
        for salon in salons or []
    )
    body = (
        '<p class="done">AI Admin уже подключено для выбранных филиалов.</p>'
        + (f'<ul class="salons">{items}</ul>' if items else "")
        + '<p class="next-step">Чтобы подключить другой номер WhatsApp, сначала отключите '
        "приложение в YClients, затем подключите его снова.</p>"
        f'<p><a class="button" href="{escape(return_url)}">Вернуться в YClients</a></p>'
    )
    return _page("Уже подключено", body, 200)


def claimed_by_another_user() -> web.Response:
    body = (
        '<p class="error" data-reason="claimed_by_another_user">Эти филиалы сейчас подключает '
        "другой пользователь YClients.</p>"
        '<p class="next-step">Если подключаете вы, продолжите на странице, которую открыли '
        "первой, или попробуйте снова через час. Если вы никому не поручали подключение, "
        "напишите в поддержку AI Admin.</p>"
    )
    return _page("Подключение уже идёт", body, 409)


def too_many_redirects(retry_after_seconds: int) -> web.Response:
    body = (
        '<p class="error" data-reason="too_many_redirects">Слишком много попыток подключения '
        "подряд.</p>"
        f'<p class="next-step">Подождите {escape(wait_phrase(retry_after_seconds))}, затем '
        "вернитесь в YClients и нажмите «Подключить» ещё раз.</p>"
    )
    response = _page("Слишком много попыток", body, 429)
    response.headers["Retry-After"] = str(retry_after_seconds)
    return response


def url_too_long() -> web.Response:
    body = (
        '<p class="error" data-reason="url_too_long">Ссылка слишком длинная: её, похоже, '
        "испортили при копировании.</p>"
        f'<p class="next-step">{escape(TRY_AGAIN)}</p>'
    )
    return _page("Ссылка неверна", body, 414)


def not_found() -> web.Response:
    return _page("Страница не найдена", f'<p class="next-step">{escape(TRY_AGAIN)}</p>', 404)
