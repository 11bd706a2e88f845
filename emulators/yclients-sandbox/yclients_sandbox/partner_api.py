"""The marketplace partner endpoints of YClients, with their auth, errors and state changes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from yclients_sandbox import envelope
from yclients_sandbox.events import spawn_lifecycle
from yclients_sandbox.keys import CONFIG, STATE
from yclients_sandbox.state import INSTALLED, PartnerError, Salon
from yclients_sandbox.validation import Fields

routes = web.RouteTableDef()

WRONG_APPLICATION = "Нет доступа к приложению."


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise PartnerError(422, "Тело запроса должно быть JSON-объектом.") from None
    if not isinstance(body, dict):
        raise PartnerError(422, "Тело запроса должно быть JSON-объектом.")
    return body


def check_application(request: web.Request, application_id: int) -> None:
    if application_id != request.app[CONFIG].application_id:
        raise PartnerError(403, WRONG_APPLICATION)


def path_int(request: web.Request, name: str) -> int:
    value = request.match_info[name]
    if not value.isdigit():
        raise PartnerError(404, "Не найдено.")
    return int(value)


def installation(salon: Salon, application_id: int) -> dict[str, Any]:
    return {
        "salon_id": salon.id,
        "application_id": application_id,
        "status": salon.status.value,
        "channels": [
            {"slug": slug, "is_available": available} for slug, available in salon.channels.items()
        ],
    }


async def _install(request: web.Request) -> dict[str, Any]:
    fields = Fields(await json_body(request))
    salon_id = fields.integer("salon_id")
    application_id = fields.integer("application_id")
    api_key = fields.string("api_key", required=False)
    webhook_urls = fields.strings("webhook_urls")
    channels = fields.strings("channels")
    fields.check()
    check_application(request, application_id)
    salon = request.app[STATE].install(salon_id, api_key, webhook_urls, channels)
    return installation(salon, application_id)


@routes.post("/marketplace/partner/callback")
async def install(request: web.Request) -> web.Response:
    return envelope.ok(await _install(request), status=201)


@routes.post("/marketplace/partner/callback/redirect")
async def install_with_redirect(request: web.Request) -> web.Response:
    data = await _install(request)
    location = request.url.with_path("/appstore/success").with_query(salon_id=data["salon_id"])
    response = envelope.ok(data, status=301)
    response.headers["Location"] = str(location)
    return response


@routes.post("/marketplace/partner/payment")
async def payment(request: web.Request) -> web.Response:
    fields = Fields(await json_body(request))
    salon_id = fields.integer("salon_id")
    application_id = fields.integer("application_id")
    payment_sum = fields.number("payment_sum")
    currency_iso = fields.string("currency_iso")
    payment_date = fields.string("payment_date")
    period_from = fields.string("period_from")
    period_to = fields.string("period_to")
    fields.check()
    check_application(request, application_id)
    paid = request.app[STATE].pay(
        salon_id,
        payment_sum,
        currency_iso or "",
        payment_date or "",
        period_from or "",
        period_to or "",
    )
    return envelope.ok(paid.view(), status=201)


@routes.post("/marketplace/partner/payment/refund/{payment_id}")
async def refund(request: web.Request) -> web.Response:
    refunded = request.app[STATE].refund(path_int(request, "payment_id"))
    return envelope.ok(refunded.view())


@routes.get("/marketplace/salon/{salon_id}/application/{application_id}")
async def application_status(request: web.Request) -> web.Response:
    application_id = path_int(request, "application_id")
    check_application(request, application_id)
    salon = request.app[STATE].installed_salon(path_int(request, "salon_id"))
    return envelope.ok({**installation(salon, application_id), "logs": list(salon.logs)})


@routes.post("/marketplace/salon/{salon_id}/application/{application_id}/uninstall")
async def uninstall(request: web.Request) -> web.Response:
    application_id = path_int(request, "application_id")
    check_application(request, application_id)
    salon = request.app[STATE].uninstall(path_int(request, "salon_id"))
    spawn_lifecycle(request.app, salon.id, "uninstall")
    return envelope.ok(installation(salon, application_id))


@routes.get("/marketplace/application/{application_id}/salons")
async def application_salons(request: web.Request) -> web.Response:
    application_id = path_int(request, "application_id")
    check_application(request, application_id)
    fields = Fields(
        {"page": request.query.get("page", "1"), "count": request.query.get("count", "25")}
    )
    page = fields.integer("page")
    count = fields.integer("count")
    fields.check()
    if page < 1 or not 1 <= count <= 100:
        raise PartnerError(422, "Параметры page и count должны быть от 1 (count — до 100).")
    installed = [
        {"salon_id": salon.id, "title": salon.name, "status": salon.status.value}
        for salon in request.app[STATE].salons.values()
        if salon.status in INSTALLED
    ]
    chunk = installed[(page - 1) * count : page * count]
    return envelope.ok(chunk, meta={"page": page, "count": count, "total_count": len(installed)})


@routes.post("/marketplace/application/update_channel")
async def update_channel(request: web.Request) -> web.Response:
    fields = Fields(await json_body(request))
    salon_id = fields.integer("salon_id")
    application_id = fields.integer("application_id")
    slug = fields.string("channel_slug")
    is_available = fields.boolean("is_available")
    fields.check()
    check_application(request, application_id)
    salon = request.app[STATE].update_channel(salon_id, slug or "", is_available)
    return envelope.ok(installation(salon, application_id))
