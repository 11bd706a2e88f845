"""The marketplace card of "AI Admin": pick salons, click "Подключить", get redirected; below
it, a section per installed salon (`salon_panel.py`)."""

from __future__ import annotations

from html import escape
from typing import cast

from aiohttp import web

from yclients_sandbox.config import IDS_FORMS, IdsForm
from yclients_sandbox.keys import CONFIG, STATE
from yclients_sandbox.redirect import build_redirect_url, user_payload
from yclients_sandbox.salon_panel import SCRIPT as PANEL_SCRIPT
from yclients_sandbox.salon_panel import STYLE as PANEL_STYLE
from yclients_sandbox.salon_panel import render_panel
from yclients_sandbox.state import Salon, Status

routes = web.RouteTableDef()

STATUS_LABELS = {
    Status.NOT_INSTALLED: "",
    Status.PENDING: "ожидает подключения",
    Status.ACTIVE: "подключено",
    Status.FREEZED: "заморожено",
    Status.UNINSTALLED: "отключено",
}

STYLE = """
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.4 -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       background: #f2f3f7; color: #1f2330; }
header { background: #2b2e3a; color: #fff; padding: 12px 16px; font-weight: 600; }
main { max-width: 560px; margin: 0 auto; padding: 16px; }
.card { background: #fff; border-radius: 12px; padding: 16px; box-shadow: 0 1px 3px #0002; }
.app { display: flex; gap: 12px; align-items: center; margin-bottom: 12px; }
.logo { flex: none; width: 56px; height: 56px; border-radius: 12px; background: #25d366;
        color: #fff; display: flex; align-items: center; justify-content: center;
        font-size: 22px; font-weight: 700; }
h1 { font-size: 20px; margin: 0; }
.muted { color: #6b7080; font-size: 14px; margin: 0; }
fieldset { border: 0; padding: 0; margin: 16px 0; }
legend { font-weight: 600; margin-bottom: 8px; }
label { display: flex; gap: 10px; align-items: center; padding: 12px; margin-bottom: 8px;
        border: 1px solid #dde0e8; border-radius: 10px; cursor: pointer; }
input[type=checkbox] { width: 22px; height: 22px; flex: none; }
.state { margin-left: auto; font-size: 13px; color: #6b7080; text-align: right; }
.error { color: #c62828; }
button { width: 100%; padding: 14px; border: 0; border-radius: 10px; background: #f2a900;
         color: #1f2330; font-size: 17px; font-weight: 600; cursor: pointer; }
"""


def salon_row(salon: Salon) -> str:
    label = STATUS_LABELS[salon.status]
    state = f'<span class="state">{escape(label)}</span>' if label else ""
    return (
        f'<label><input type="checkbox" name="salon_id" value="{salon.id}">'
        f"<span>{escape(salon.name)}</span>{state}</label>"
    )


def render_page(
    salons: list[Salon], ids_form: str, error: str | None = None, panel: str = ""
) -> str:
    rows = "\n".join(salon_row(salon) for salon in salons)
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return f"""<!DOCTYPE html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Маркетплейс YClients — AI Admin</title>
<style>{STYLE}{PANEL_STYLE}</style>
</head>
<body>
<header>YClients · Маркетплейс (песочница)</header>
<main>
<form class="card" method="post" action="/marketplace/connect">
  <div class="app">
    <div class="logo" aria-hidden="true">AI</div>
    <div>
      <h1>AI Admin</h1>
      <p class="muted">ИИ-администратор салона в WhatsApp: запись клиентов, напоминания, ответы
      на вопросы круглосуточно.</p>
    </div>
  </div>
  {problem}
  <fieldset>
    <legend>Филиалы, в которых подключить приложение</legend>
    {rows}
  </fieldset>
  <input type="hidden" name="ids_form" value="{escape(ids_form)}">
  <button type="submit">Подключить</button>
</form>
<div id="salons">{panel}</div>
</main>
<script>{PANEL_SCRIPT}</script>
</body>
</html>
"""


def chosen_ids_form(value: str | None, default: IdsForm) -> IdsForm:
    return cast(IdsForm, value) if value in IDS_FORMS else default


@routes.get("/")
@routes.get("/marketplace")
async def page(request: web.Request) -> web.Response:
    ids_form = chosen_ids_form(request.query.get("ids_form"), request.app[CONFIG].ids_form)
    salons = list(request.app[STATE].salons.values())
    text = render_page(salons, ids_form, panel=render_panel(request.app))
    return web.Response(text=text, content_type="text/html")


@routes.post("/marketplace/connect")
async def connect(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    state = request.app[STATE]
    form = await request.post()
    ids_form = chosen_ids_form(str(form.get("ids_form", "")), config.ids_form)
    chosen = [str(value) for value in form.getall("salon_id", [])]
    salon_ids = [int(value) for value in chosen if value.isdigit() and int(value) in state.salons]
    problem = None
    if not salon_ids or len(salon_ids) != len(chosen):
        problem = "Выберите хотя бы один филиал."
    elif ids_form == "single" and len(salon_ids) > 1:
        problem = "В этом режиме можно выбрать только один филиал."
    if problem:
        text = render_page(list(state.salons.values()), ids_form, problem)
        return web.Response(text=text, status=400, content_type="text/html")
    salons = state.consent(salon_ids)
    user = user_payload(config.user, salons[0].name)
    location = build_redirect_url(
        config.redirect_url, salon_ids, user, config.partner_token, ids_form
    )
    # Set as is: aiohttp's HTTPFound would percent-encode the brackets of `salon_ids[]`.
    return web.Response(status=302, headers={"Location": location})


@routes.get("/appstore/success")
async def installed_page(request: web.Request) -> web.Response:
    """Where `/marketplace/partner/callback/redirect` sends the caller: an HTML page, not JSON."""
    text = """<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Приложение подключено</title></head>
<body><h1>Приложение подключено</h1><p>Можно вернуться в YClients.</p></body></html>
"""
    return web.Response(text=text, content_type="text/html")
