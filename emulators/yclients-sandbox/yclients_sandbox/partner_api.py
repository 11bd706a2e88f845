"""The marketplace partner endpoints of YClients, with their auth, errors and state changes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from yclients_sandbox import envelope
from yclients_sandbox.clock import yclients_time
from yclients_sandbox.events import lifecycle_after_answer
from yclients_sandbox.keys import CONFIG, STATE
from yclients_sandbox.state import (
    INSTALLED,
    KNOWN_TO_STATUS,
    NOT_INSTALLED,
    PartnerError,
    Salon,
    SandboxState,
)
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
    return envelope.ok(paid.view())


@routes.post("/marketplace/partner/payment/refund/{payment_id}")
async def refund(request: web.Request) -> web.Response:
    """A refund; when it leaves an active salon unpaid, the salon is frozen at once (YClients
    allows itself an hour) and the `freeze` lifecycle event follows the answer."""
    refunded, froze = request.app[STATE].refund(path_int(request, "payment_id"))
    if froze:
        lifecycle_after_answer(request, refunded.salon_id, "freeze")
    return envelope.ok(refunded.view())


def connection(state: SandboxState, salon: Salon, application_id: int) -> dict[str, Any]:
    """YClients' documented answer (connection_status, payments, logs), plus the sandbox's
    own `salon_id`, `application_id`, `status` and `channels`."""
    return {
        **installation(salon, application_id),
        "connection_status": {
            "status": salon.status.value,
            "created_at": yclients_time(salon.created_at) if salon.created_at else None,
        },
        "payments": [payment.view() for payment in state.payments_of(salon.id)],
        "logs": list(salon.logs),
    }


@routes.get("/marketplace/salon/{salon_id}/application/{application_id}")
async def application_status(request: web.Request) -> web.Response:
    application_id = path_int(request, "application_id")
    check_application(request, application_id)
    state = request.app[STATE]
    salon = state.salons.get(path_int(request, "salon_id"))
    if salon is None or salon.status not in KNOWN_TO_STATUS:
        raise PartnerError(404, NOT_INSTALLED)
    return envelope.ok(connection(state, salon, application_id))


@routes.post("/marketplace/salon/{salon_id}/application/{application_id}/uninstall")
async def uninstall(request: web.Request) -> web.Response:
    application_id = path_int(request, "application_id")
    check_application(request, application_id)
    salon = request.app[STATE].uninstall(path_int(request, "salon_id"))
    lifecycle_after_answer(request, salon.id, "uninstall")
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
        {
            "id": salon.id,
            "salon_id": salon.id,
            "title": salon.name,
            "public_title": salon.name,
            "active": 1,
            "status": salon.status.value,
        }
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


@routes.get("/marketplace/application/{application_id}/tariffs")
async def tariffs(request: web.Request) -> web.Response:
    check_application(request, path_int(request, "application_id"))
    return envelope.ok(request.app[STATE].tariffs_view())


def _query_number(fields: Fields, request: web.Request, name: str) -> float | None:
    if name not in request.query:
        return None
    return fields.number(name)


@routes.get("/marketplace/application/payment_link")
async def payment_link(request: web.Request) -> web.Response:
    """`?salon_id=&application_id=[&discount=][&tariff_option_id=]`: a link to YClients' payment
    page (here, the sandbox's); 404 «Произошла ошибка» while the application has no tariffs."""
    fields = Fields(dict(request.query))
    salon_id = fields.integer("salon_id")
    application_id = fields.integer("application_id")
    discount = _query_number(fields, request, "discount")
    option_id = fields.integer("tariff_option_id") if "tariff_option_id" in request.query else None
    fields.check()
    check_application(request, application_id)
    if discount is not None and not 0 <= discount <= 100:
        message = "Скидка — процент от 0 до 100."
        raise PartnerError(422, message, {"discount": [message]})
    link = request.app[STATE].payment_link(salon_id, discount, option_id)
    return envelope.ok({"url": link["url"]})


@routes.post("/marketplace/application/add_discount")
async def add_discount(request: web.Request) -> web.Response:
    """`{"salon_ids": [..], "application_id", "discount"}`: the discount (a percentage here) the
    salons get when they pay through YClients; recorded per salon, the last one counts."""
    body = await json_body(request)
    fields = Fields(body)
    application_id = fields.integer("application_id")
    discount = fields.number("discount")
    given = body.get("salon_ids")
    salon_ids = [
        item
        for item in (given if isinstance(given, list) else [])
        if isinstance(item, int) and not isinstance(item, bool)
    ]
    if not salon_ids or len(salon_ids) != len(given or []):
        fields.errors["salon_ids"] = ["Поле salon_ids: непустой массив id филиалов."]
    if "discount" not in fields.errors and not 0 <= discount <= 100:
        fields.errors["discount"] = ["Поле discount: процент от 0 до 100."]
    fields.check()
    check_application(request, application_id)
    salons = request.app[STATE].add_discount(salon_ids, discount)
    return envelope.ok({"salon_ids": [salon.id for salon in salons], "discount": discount})
