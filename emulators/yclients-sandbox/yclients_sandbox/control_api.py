"""`/__sandbox/…`: what tests and the demo use to look inside the sandbox and to steer it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from yclients_sandbox.clock import iso
from yclients_sandbox.config import IDS_FORMS, TariffConfig
from yclients_sandbox.events import NoWebhookUrls, apply_lifecycle, send_entities, send_lifecycle
from yclients_sandbox.keys import CONFIG, LIMITER, SENDER, STATE
from yclients_sandbox.middleware import redact_path
from yclients_sandbox.notify import (
    RecordChange,
    Refused,
    change_record,
    create_record,
    deliver_change,
    prepare_mailing,
    send_notification,
)
from yclients_sandbox.records import parse_visit_at
from yclients_sandbox.redirect import build_redirect_url, user_payload
from yclients_sandbox.state import Fault, PartnerError, Salon, SandboxState, Status

routes = web.RouteTableDef()


def bad_request(message: str) -> web.HTTPBadRequest:
    body = json.dumps({"error": message}, ensure_ascii=False)
    return web.HTTPBadRequest(text=body, content_type="application/json")


def refused(exc: Refused) -> web.HTTPException:
    body = json.dumps({"error": str(exc)}, ensure_ascii=False)
    if exc.status == 404:
        return web.HTTPNotFound(text=body, content_type="application/json")
    return web.HTTPBadRequest(text=body, content_type="application/json")


async def read_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise bad_request("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


def require(body: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise bad_request(f"{name} is required and must be {what}")
    return value


def parse_fault(item: Any) -> Fault:
    if not isinstance(item, dict) or not isinstance(item.get("status"), int):
        raise bad_request('each response needs an integer "status"')
    delay = item.get("delay_seconds", 0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise bad_request("delay_seconds must be a non-negative number")
    return Fault(
        status=item["status"],
        message=item.get("message"),
        errors=item.get("errors"),
        html=bool(item.get("html", False)),
        delay_seconds=float(delay),
        apply=bool(item.get("apply", False)),
    )


@routes.get("/__sandbox/calls")
async def calls(request: web.Request) -> web.Response:
    path = request.query.get("path")
    wanted = redact_path(path) if path is not None else None
    recorded = [
        call for call in request.app[STATE].calls if wanted is None or call["path"] == wanted
    ]
    return web.json_response(recorded)


@routes.delete("/__sandbox/calls")
async def clear_calls(request: web.Request) -> web.Response:
    request.app[STATE].calls.clear()
    return web.json_response({"cleared": True})


@routes.post("/__sandbox/faults")
async def program_faults(request: web.Request) -> web.Response:
    body = await read_object(request)
    path = require(body, "path", str, "a string")
    responses = require(body, "responses", list, "a list")
    request.app[STATE].program_faults(path, [parse_fault(item) for item in responses])
    return web.json_response({"path": path, "queued": len(request.app[STATE].faults[path])})


@routes.delete("/__sandbox/faults")
async def clear_faults(request: web.Request) -> web.Response:
    request.app[STATE].faults.clear()
    return web.json_response({"cleared": True})


@routes.post("/__sandbox/clock")
async def advance_clock(request: web.Request) -> web.Response:
    seconds = require(await read_object(request), "advance_seconds", (int, float), "a number")
    clock = request.app[STATE].clock
    clock.advance(float(seconds))
    return web.json_response({"now": iso(clock.now()), "offset_seconds": clock.offset_seconds})


@routes.post("/__sandbox/send/lifecycle")
async def send_lifecycle_event(request: web.Request) -> web.Response:
    body = await read_object(request)
    salon_id = require(body, "salon_id", int, "an integer")
    event = require(body, "event", str, "a string")
    extra = body.get("extra") or {}
    if not isinstance(extra, dict):
        raise bad_request("extra must be an object")
    apply_lifecycle(request.app, salon_id, event)
    delivery = await send_lifecycle(request.app, salon_id, event, extra)
    return web.json_response(delivery.view())


@routes.post("/__sandbox/send/entity")
async def send_entity(request: web.Request) -> web.Response:
    body = await read_object(request)
    salon_id = require(body, "salon_id", int, "an integer")
    count = body.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise bad_request("count must be a positive integer")
    try:
        deliveries = await send_entities(
            request.app,
            salon_id,
            resource=str(body.get("resource", "record")),
            status=str(body.get("status", "create")),
            count=count,
            as_array=bool(body.get("as_array", False)),
        )
    except NoWebhookUrls as exc:
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response([delivery.view() for delivery in deliveries])


@routes.get("/__sandbox/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    return web.json_response([delivery.view() for delivery in request.app[SENDER].deliveries])


def salon_view(state: SandboxState, salon: Salon) -> dict[str, Any]:
    return {**salon.view(), "payments": [p.view() for p in state.payments_of(salon.id)]}


@routes.get("/__sandbox/salons")
async def salons(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response([salon_view(state, salon) for salon in state.salons.values()])


@routes.post("/__sandbox/cabinet")
async def cabinet(request: web.Request) -> web.Response:
    """Settings that can change at run time: {"callback_url"?, "notify_url"?}.

    `callback_url`: the developer cabinet's Callback URL (lifecycle events). `notify_url`: the
    operator URL of the notification module (null stops notifications).
    """
    body = await read_object(request)
    if "callback_url" not in body and "notify_url" not in body:
        raise bad_request("give callback_url, notify_url or both")
    state = request.app[STATE]
    if "callback_url" in body:
        state.callback_url = require(body, "callback_url", str, "a URL")
    if "notify_url" in body:
        notify_url = body["notify_url"]
        if notify_url is not None and not (isinstance(notify_url, str) and notify_url):
            raise bad_request("notify_url must be a URL or null")
        state.notify_url = notify_url
    return web.json_response({"callback_url": state.callback_url, "notify_url": state.notify_url})


@routes.post("/__sandbox/salons")
async def put_salon(request: web.Request) -> web.Response:
    """Add a salon or set its name and installation state: {"salon_id", "name"?, "status"?}."""
    body = await read_object(request)
    salon_id = require(body, "salon_id", int, "an integer")
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise bad_request("name must be a string")
    status = body.get("status")
    if status is not None and status not in {item.value for item in Status}:
        raise bad_request(f"status must be one of {', '.join(item.value for item in Status)}")
    salon = request.app[STATE].put_salon(salon_id, name, Status(status) if status else None)
    return web.json_response(salon.view())


@routes.post("/__sandbox/consent")
async def consent(request: web.Request) -> web.Response:
    """The admin's click without the browser; answers the URL the browser would be sent to."""
    body = await read_object(request)
    salon_ids = require(body, "salon_ids", list, "a list")
    if not salon_ids or not all(isinstance(item, int) for item in salon_ids):
        raise bad_request("salon_ids must be a non-empty list of integers")
    config = request.app[CONFIG]
    ids_form = body.get("ids_form", config.ids_form)
    if ids_form not in IDS_FORMS:
        raise bad_request(f"ids_form must be one of {', '.join(IDS_FORMS)}")
    if ids_form == "single" and len(salon_ids) > 1:
        raise bad_request("the single form carries exactly one salon")
    try:
        chosen = request.app[STATE].consent(salon_ids)
        url = build_redirect_url(
            config.redirect_url,
            salon_ids,
            user_payload(config.user, chosen[0].name),
            config.partner_token,
            ids_form,
        )
    except PartnerError as exc:
        raise bad_request(str(exc)) from None
    return web.json_response({"salons": [s.view() for s in chosen], "redirect_url": url})


@routes.post("/__sandbox/reset")
async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    request.app[SENDER].clear()
    request.app[LIMITER].reset()
    return web.json_response({"reset": True})


# -- records and notifications -------------------------------------------------------------


def optional_string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise bad_request(f"{name} must be a non-empty string")
    return value.strip() if isinstance(value, str) else None


def optional_visit_at(body: dict[str, Any]) -> float | None:
    value = optional_string(body, "visit_at")
    if value is None:
        return None
    try:
        return parse_visit_at(value)
    except ValueError:
        raise bad_request("visit_at must be an ISO date and time, e.g. 2026-11-25T14:00") from None


async def answer_change(request: web.Request, change: RecordChange) -> web.Response:
    webhooks = await deliver_change(request.app, change)
    state = request.app[STATE]
    before = request.app[CONFIG].reminder_before_seconds
    return web.json_response(
        {
            "record": change.record.view(before),
            "notification": change.notification.view(state.book.statuses),
            "webhooks": [delivery.view() for delivery in webhooks],
        }
    )


@routes.post("/__sandbox/records")
async def new_record(request: web.Request) -> web.Response:
    """A booking made in YClients: {"salon_id", "client_phone", "client_name"?, "service"?,
    "visit_at"?}. Sends the confirmation through our channel (when it is on) and the record's
    entity webhook; answers both with the record."""
    body = await read_object(request)
    salon_id = require(body, "salon_id", int, "an integer")
    phone = require(body, "client_phone", str, "a phone number")
    try:
        change = create_record(
            request.app,
            salon_id,
            phone,
            optional_string(body, "client_name"),
            optional_string(body, "service"),
            optional_visit_at(body),
        )
    except Refused as exc:
        raise refused(exc) from None
    return await answer_change(request, change)


@routes.post("/__sandbox/records/{record_id}")
async def changed_record(request: web.Request) -> web.Response:
    """The booking moved or changed: {"visit_at"?, "service"?, "client_name"?}; sends again."""
    body = await read_object(request)
    record_id = request.match_info["record_id"]
    if not record_id.isdigit():
        raise web.HTTPNotFound()
    try:
        change = change_record(
            request.app,
            int(record_id),
            optional_visit_at(body),
            optional_string(body, "service"),
            optional_string(body, "client_name"),
        )
    except Refused as exc:
        raise refused(exc) from None
    return await answer_change(request, change)


@routes.get("/__sandbox/records")
async def records(request: web.Request) -> web.Response:
    before = request.app[CONFIG].reminder_before_seconds
    book = request.app[STATE].book
    return web.json_response([record.view(before) for record in book.records.values()])


@routes.post("/__sandbox/mailings")
async def mailing(request: web.Request) -> web.Response:
    """An advertising send: {"salon_id", "text"?, "phones"?, "as_list"?}; answers the
    notifications (one per phone, or one with a list of destinations when `as_list`)."""
    body = await read_object(request)
    salon_id = require(body, "salon_id", int, "an integer")
    phones = body.get("phones")
    if phones is not None and not (
        isinstance(phones, list) and phones and all(isinstance(p, str) for p in phones)
    ):
        raise bad_request("phones must be a non-empty list of strings")
    try:
        prepared = prepare_mailing(
            request.app,
            salon_id,
            optional_string(body, "text"),
            phones,
            bool(body.get("as_list", False)),
        )
    except Refused as exc:
        raise refused(exc) from None
    sent = await asyncio.gather(*(send_notification(request.app, n) for n in prepared))
    statuses = request.app[STATE].book.statuses
    return web.json_response([notification.view(statuses) for notification in sent])


@routes.get("/__sandbox/notifications")
async def notifications(request: web.Request) -> web.Response:
    """Every notification, oldest first: body, headers, attempts with answers, statuses."""
    salon_id = request.query.get("salon_id")
    wanted = int(salon_id) if salon_id and salon_id.isdigit() else None
    return web.json_response(request.app[STATE].book.notifications_view(wanted))


@routes.get("/__sandbox/statuses")
async def statuses(request: web.Request) -> web.Response:
    """Statuses our channel reported, per send id, in order of arrival; `?id=` for one."""
    reported = request.app[STATE].book.statuses
    send_id = request.query.get("id")
    if send_id is not None:
        return web.json_response({send_id: reported.get(send_id, [])})
    return web.json_response(reported)


@routes.get("/__sandbox/schedule")
async def schedule(request: web.Request) -> web.Response:
    """What the clock will set off: reminders not yet sent and trials not yet ended."""
    state = request.app[STATE]
    before = request.app[CONFIG].reminder_before_seconds
    return web.json_response(
        {
            "now": iso(state.clock.now()),
            "reminders": [
                {"record_id": record.id, "at": iso(record.reminder_due(before))}
                for record in state.book.records.values()
                if record.reminder == "scheduled"
            ],
            "trials": [
                {"salon_id": salon.id, "ends_at": iso(salon.trial_ends_at)}
                for salon in state.salons.values()
                if salon.trial_ends_at is not None
            ],
        }
    )


# -- billing ---------------------------------------------------------------------------------


def parse_tariff(item: Any) -> TariffConfig:
    if not isinstance(item, dict) or not isinstance(item.get("title"), str) or not item["title"]:
        raise bad_request('each tariff needs a "title"')
    price = item.get("price")
    months = item.get("months", 1)
    currency = item.get("currency_iso", "RUB")
    if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
        raise bad_request("price must be a non-negative number")
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise bad_request("months must be a positive integer")
    if not isinstance(currency, str) or len(currency) != 3:
        raise bad_request("currency_iso must be a three-letter code")
    return TariffConfig(item["title"], float(price), months, currency)


@routes.get("/__sandbox/tariffs")
async def get_tariffs(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].tariffs_view())


@routes.post("/__sandbox/tariffs")
async def set_tariffs(request: web.Request) -> web.Response:
    """The application's tariffs, replaced: {"tariffs": [{"title", "price", "months"?,
    "currency_iso"?}]}; an empty list leaves none (the payment link then answers 404)."""
    items = require(await read_object(request), "tariffs", list, "a list")
    request.app[STATE].tariffs = [parse_tariff(item) for item in items]
    return web.json_response(request.app[STATE].tariffs_view())
