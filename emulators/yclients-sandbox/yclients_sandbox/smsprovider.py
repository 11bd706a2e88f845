"""`POST /smsprovider/status/callback/{partner_token}`: our channel reports delivery statuses.

Behind the partner gate (firewall, rate limit, Bearer partner token, faults, call recording).
Errors carry YClients' documented codes in `meta.code`: 5 (400) the body, 10 (400) a field,
20 (401) the token, 30 (404) an unknown send id.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from aiohttp import web

from yclients_sandbox import envelope
from yclients_sandbox.clock import iso
from yclients_sandbox.keys import CONFIG, STATE
from yclients_sandbox.records import PRICED_STATUSES, STATUS_LABELS, StatusReport
from yclients_sandbox.state import PartnerError

routes = web.RouteTableDef()

ENTITY_INVALID = "Тело запроса не прошло валидацию: ожидается массив статусов."
FIELD_INVALID = "Параметр не прошёл валидацию."
REFUSED_PATH = "partner_token в адресе отсутствует или неверен."
UNKNOWN_ID = "Отправка с таким id не найдена."
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _amount(value: Any) -> bool:
    """A non-negative number (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def check_report(item: Any, where: str, errors: dict[str, list[str]]) -> None:
    """Field errors of one status report, keyed `<index>.<field>`."""
    if not isinstance(item, dict):
        errors[where] = ["Статус должен быть объектом."]
        return
    if not isinstance(item.get("id"), str) or not item["id"]:
        errors[f"{where}.id"] = ["Поле id обязательно: строка, id отправки из запроса."]
    status = item.get("status")
    if isinstance(status, bool) or status not in STATUS_LABELS:
        codes = ", ".join(map(str, STATUS_LABELS))
        errors[f"{where}.status"] = [f"Поле status должно быть одним из: {codes}."]
    priced = status in PRICED_STATUSES
    sum_ = item.get("payment_sum")
    if (sum_ is not None or priced) and not _amount(sum_):
        errors[f"{where}.payment_sum"] = ["Поле payment_sum: неотрицательное число."]
    currency = item.get("currency_iso")
    if (currency is not None or priced) and not (
        isinstance(currency, str) and _CURRENCY.match(currency)
    ):
        errors[f"{where}.currency_iso"] = ["Поле currency_iso: код валюты ISO, например RUB."]
    parts = item.get("parts_amount")
    if (parts is not None or priced) and not (
        isinstance(parts, int) and not isinstance(parts, bool) and parts >= 0
    ):
        errors[f"{where}.parts_amount"] = ["Поле parts_amount: целое неотрицательное число."]


@routes.post("/smsprovider/status/callback/{partner_token}")
async def status_callback(request: web.Request) -> web.Response:
    token = request.match_info["partner_token"]
    expected = request.app[CONFIG].partner_token
    if not hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8")):
        raise PartnerError(401, REFUSED_PATH, code=20)
    try:
        body = await request.json()
    except ValueError:
        raise PartnerError(400, ENTITY_INVALID, code=5) from None
    # The documented body is an array; a single report object is taken as an array of one.
    items = [body] if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise PartnerError(400, ENTITY_INVALID, code=5)
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        check_report(item, str(index), errors)
    if errors:
        raise PartnerError(400, FIELD_INVALID, errors, code=10)
    state = request.app[STATE]
    sent = state.book.sent_ids()
    unknown = [item["id"] for item in items if item["id"] not in sent]
    if unknown:
        raise PartnerError(404, UNKNOWN_ID, {"id": unknown}, code=30)
    now = iso(state.clock.now())
    for item in items:
        state.book.statuses.setdefault(item["id"], []).append(
            StatusReport(
                status=item["status"],
                label=STATUS_LABELS[item["status"]],
                payment_sum=item.get("payment_sum"),
                currency_iso=item.get("currency_iso"),
                parts_amount=item.get("parts_amount"),
                time=now,
            )
        )
    return envelope.ok(None)
