"""`/__sandbox/…`: what tests and the demo use to look inside the sandbox and to steer it."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from yclients_sandbox.config import IDS_FORMS
from yclients_sandbox.events import NoWebhookUrls, apply_lifecycle, send_entities, send_lifecycle
from yclients_sandbox.keys import CONFIG, LIMITER, SENDER, STATE
from yclients_sandbox.redirect import build_redirect_url, user_payload
from yclients_sandbox.state import Fault, PartnerError, Status, iso

routes = web.RouteTableDef()


def bad_request(message: str) -> web.HTTPBadRequest:
    body = json.dumps({"error": message}, ensure_ascii=False)
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
    recorded = [call for call in request.app[STATE].calls if path is None or call["path"] == path]
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


@routes.get("/__sandbox/salons")
async def salons(request: web.Request) -> web.Response:
    return web.json_response([salon.view() for salon in request.app[STATE].salons.values()])


@routes.post("/__sandbox/cabinet")
async def cabinet(request: web.Request) -> web.Response:
    """The developer cabinet's settings that can change: {"callback_url"}."""
    callback_url = require(await read_object(request), "callback_url", str, "a URL")
    request.app[STATE].callback_url = callback_url
    return web.json_response({"callback_url": callback_url})


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
