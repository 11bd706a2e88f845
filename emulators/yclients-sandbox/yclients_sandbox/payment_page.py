"""`/appstore/payment/`: where the payment link leads, YClients' page to pay for the app.

The link is checked by its `sign`. Paying books a payment (source `marketplace`), makes a frozen
salon active again and tells us with the `payment` lifecycle event and the payment's fields.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from html import escape

from aiohttp import web

from yclients_sandbox.clock import MOSCOW, yclients_time
from yclients_sandbox.config import TariffConfig
from yclients_sandbox.events import spawn_lifecycle
from yclients_sandbox.keys import STATE
from yclients_sandbox.state import (
    SOURCE_MARKETPLACE,
    PartnerError,
    SandboxState,
    tariff_option_id,
)

routes = web.RouteTableDef()

PAGE = """<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ margin: 0; font: 16px/1.4 -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       background: #f2f3f7; color: #1f2330; }}
main {{ max-width: 560px; margin: 0 auto; padding: 16px; }}
.card {{ background: #fff; border-radius: 12px; padding: 16px; box-shadow: 0 1px 3px #0002; }}
label {{ display: flex; gap: 10px; padding: 12px; margin-bottom: 8px;
        border: 1px solid #dde0e8; border-radius: 10px; }}
button {{ width: 100%; padding: 14px; border: 0; border-radius: 10px; background: #f2a900;
         font-size: 17px; font-weight: 600; }}
</style></head>
<body><main class="card">{body}</main></body></html>
"""

LINK_FIELDS = ("salon_id", "application_id", "discount", "tariff_option_id", "source")


def page(title: str, body: str, status: int = 200) -> web.Response:
    text = PAGE.format(title=escape(title), body=body)
    return web.Response(text=text, status=status, content_type="text/html")


def link_params(query: dict[str, str]) -> dict[str, str]:
    return {name: query[name] for name in LINK_FIELDS if name in query}


def checked_link(state: SandboxState, query: dict[str, str]) -> dict[str, str] | None:
    """The link's parameters when its sign is the sandbox's, else None."""
    params = link_params(query)
    sign = query.get("sign", "")
    if not params.get("salon_id", "").isdigit():
        return None
    expected = state.sign_payment_link(params)
    return params if hmac.compare_digest(sign.encode(), expected.encode()) else None


def offered(state: SandboxState, params: dict[str, str]) -> list[tuple[int, TariffConfig]]:
    options = [(tariff_option_id(i), tariff) for i, tariff in enumerate(state.tariffs)]
    chosen = params.get("tariff_option_id")
    return [option for option in options if chosen is None or str(option[0]) == chosen]


def price(tariff: TariffConfig, discount: float) -> float:
    return round(tariff.price * (100 - discount) / 100, 2)


@routes.get("/appstore/payment/")
async def payment_form(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params = checked_link(state, dict(request.query))
    if params is None:
        return page("Ссылка недействительна", "<h1>Ссылка на оплату недействительна</h1>", 403)
    salon = state.salons.get(int(params["salon_id"]))
    options = offered(state, params)
    if salon is None or not options:
        return page("Ошибка", "<h1>Произошла ошибка</h1>", 404)
    discount = float(params.get("discount", "0"))
    choices = "".join(
        f'<label><input type="radio" name="option" value="{option_id}"'
        f"{' checked' if index == 0 else ''}>"
        f"{escape(tariff.title)}: {price(tariff, discount):g} {escape(tariff.currency_iso)}"
        f" за {tariff.months} мес.</label>"
        for index, (option_id, tariff) in enumerate(options)
    )
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(value)}">'
        for name, value in {**params, "sign": request.query.get("sign", "")}.items()
    )
    note = f"<p>Скидка {discount:g}%</p>" if discount else ""
    body = (
        f"<h1>Оплата AI Admin</h1><p>{escape(salon.name)}</p>{note}"
        f'<form method="post" action="/appstore/payment/">{hidden}{choices}'
        '<button type="submit">Оплатить</button></form>'
    )
    return page("Оплата приложения", body)


@routes.post("/appstore/payment/")
async def pay(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = {name: str(value) for name, value in (await request.post()).items()}
    params = checked_link(state, form)
    if params is None:
        return page("Ссылка недействительна", "<h1>Ссылка на оплату недействительна</h1>", 403)
    options = dict(offered(state, params))
    option = form.get("option", "")
    tariff = options.get(int(option)) if option.isdigit() else None
    if tariff is None:
        return page("Ошибка", "<h1>Выберите тариф</h1>", 400)
    now = state.clock.now()
    until = datetime.fromtimestamp(now, MOSCOW) + timedelta(days=30 * tariff.months)
    salon_id = int(params["salon_id"])
    try:
        payment = state.pay(
            salon_id,
            price(tariff, float(params.get("discount", "0"))),
            tariff.currency_iso,
            yclients_time(now),
            yclients_time(now),
            until.strftime("%Y-%m-%d %H:%M:%S"),
            source=SOURCE_MARKETPLACE,
        )
    except PartnerError as exc:
        return page("Ошибка", f"<h1>{escape(exc.message)}</h1>", 422)
    fields = payment.view()
    extra = {
        name: fields[name]
        for name in ("payment_sum", "currency_iso", "payment_date", "period_from", "period_to")
    }
    spawn_lifecycle(request.app, salon_id, "payment", {"payment_id": payment.id, **extra})
    return page("Оплачено", f"<h1>Оплачено</h1><p>Платёж № {payment.id}. Можно вернуться.</p>")
