"""In front of the partner API and the status callback: recording, firewall, rate limit, auth,
faults, envelope; and what YClients does only after it has answered."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from yclients_sandbox import envelope
from yclients_sandbox.clock import iso
from yclients_sandbox.events import AFTER_ANSWER
from yclients_sandbox.keys import CONFIG, LIMITER, STATE
from yclients_sandbox.state import CallRecord, Fault, PartnerError

log = logging.getLogger(__name__)

STATUS_CALLBACK_PREFIX = "/smsprovider/status/callback/"
PARTNER_PREFIXES = (
    "/marketplace/partner/",
    "/marketplace/salon/",
    "/marketplace/application/",
    STATUS_CALLBACK_PREFIX,
)
RECORDED_HEADERS = ("Authorization", "Accept", "Content-Type", "User-Agent")
# The status callback carries the partner token in its path: recorded as a fingerprint.
_TOKEN_IN_PATH = re.compile(r"^(" + re.escape(STATUS_CALLBACK_PREFIX) + r")([^/]+)")


def is_partner_path(path: str) -> bool:
    return path.startswith(PARTNER_PREFIXES)


def fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


def redact_authorization(value: str) -> str:
    """`Bearer <token>[, User <token>]` with every token replaced by its fingerprint."""
    parts = []
    for part in value.split(","):
        scheme, _, token = part.strip().partition(" ")
        parts.append(f"{scheme} {fingerprint(token.strip())}" if token else fingerprint(scheme))
    return ", ".join(parts)


def redact_path(path: str) -> str:
    return _TOKEN_IN_PATH.sub(lambda match: match.group(1) + fingerprint(match.group(2)), path)


def partner_token_of(request: web.Request) -> str | None:
    first = request.headers.get("Authorization", "").split(",")[0].strip()
    scheme, _, token = first.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def fault_response(fault: Fault) -> web.Response:
    if fault.html:
        return envelope.firewall_page(fault.status)
    if fault.status < 400:
        return envelope.ok(None, status=fault.status)
    headers = {"Retry-After": "1"} if fault.status == 429 else None
    return envelope.error(fault.status, fault.message, fault.errors, headers=headers)


@web.middleware
async def partner_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if state.public_url is None:
        # Served without a known address (create_app in a test client): the first caller's.
        state.public_url = str(request.url.origin())
    if not is_partner_path(request.path):
        return await handler(request)
    raw = await request.read()
    response = await _answer(request, handler)
    headers = {name: request.headers[name] for name in RECORDED_HEADERS if name in request.headers}
    if "Authorization" in headers:
        headers["Authorization"] = redact_authorization(headers["Authorization"])
    state.calls.append(
        CallRecord(
            time=iso(state.clock.now()),
            method=request.method,
            path=redact_path(request.path),
            query={key: request.query.getall(key) for key in request.query},
            headers=headers,
            body=_decode(raw),
            status=response.status,
        )
    )
    actions = request.get(AFTER_ANSWER, [])
    if actions:
        # The answer goes out first; only then what YClients does after answering.
        await response.prepare(request)
        await response.write_eof()
        for action in actions:
            action()
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if not request.headers.get("User-Agent", "").strip():
        return envelope.firewall_page()
    if not request.app[LIMITER].allow(request.remote or "unknown", state.clock.now()):
        return envelope.error(429, headers={"Retry-After": "1"})
    token = partner_token_of(request)
    if token is None or not hmac.compare_digest(
        token.encode("utf-8"), request.app[CONFIG].partner_token.encode("utf-8")
    ):
        # The status callback's documented error codes: 20 for a missing or wrong token.
        code = 20 if request.path.startswith(STATUS_CALLBACK_PREFIX) else None
        return envelope.error(401, code=code)
    fault = state.next_fault(request.path)
    if fault is not None and not fault.apply:
        await asyncio.sleep(fault.delay_seconds)
        return fault_response(fault)
    try:
        response = await handler(request)
    except PartnerError as exc:
        response = envelope.error(exc.status, exc.message, exc.errors, code=exc.code)
    except web.HTTPException as exc:
        response = envelope.error(exc.status)
    except Exception:
        log.exception("partner API %s %s failed", request.method, request.path)
        response = envelope.error(500)
    if fault is not None:
        await asyncio.sleep(fault.delay_seconds)
        return fault_response(fault)
    return response


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
