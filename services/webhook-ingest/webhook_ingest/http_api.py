"""``POST /callback/yclients[/{webhook_secret}]``: authenticate, validate, deliver, then 2xx."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from aiohttp import web
from prometheus_client import Counter

from shared.bus import SerializedMessage
from shared.crypto import constant_time_equals
from shared.logging import Sampled
from shared.refusals import Refusal, refusals, route_name
from webhook_ingest.company_secrets import CompanySecrets
from webhook_ingest.delivery import Delivery
from webhook_ingest.events import entity_message, lifecycle_message
from webhook_ingest.parsing import Kind, classify, decode_json, parse_entities, parse_lifecycle
from webhook_ingest.settings import IngestSettings

log = structlog.get_logger(__name__)

REJECTED = Counter("webhook_ingest_rejected_total", "Refused webhook requests", ["status"])
# Counted all, logged a sample: anyone can send refused requests as fast as they like.
REFUSALS_LOGGED = Sampled()
CALLBACK_PATH = "/callback/yclients"


class Ingest:
    """The request handler with its dependencies; one per application."""

    def __init__(
        self, settings: IngestSettings, secrets: CompanySecrets, delivery: Delivery
    ) -> None:
        self._partner_token = settings.yclients_partner_token.get_secret_value()
        self._application_id = settings.yclients_application_id
        self._dedup_seconds = settings.dedup_seconds
        self._secrets = secrets
        self._delivery = delivery

    async def receive(self, request: web.Request) -> web.Response:
        # Read (within the size and time limits) by bounded_bodies before this handler runs.
        raw = await request.read()
        document = decode_json(raw)
        url_secret = request.match_info.get("webhook_secret")
        received_at = datetime.now(UTC)
        if classify(document) is Kind.LIFECYCLE:
            messages = [self._lifecycle(document, received_at)]
        else:
            messages = await self._entities(document, url_secret, received_at)
        outcome = await self._delivery.deliver(messages)
        return web.Response(
            body=orjson.dumps({"accepted": len(messages), "stored": outcome}),
            content_type="application/json",
        )

    def _lifecycle(self, document: dict[str, Any], received_at: datetime) -> SerializedMessage:
        token = document.get("partner_token")
        if token is None or token == "":
            raise Refusal(401, "missing_partner_token", "partner_token is required")
        if not isinstance(token, str) or not constant_time_equals(token, self._partner_token):
            raise Refusal(403, "wrong_partner_token", "partner_token is not ours")
        parsed = parse_lifecycle(document)
        if parsed.application_id != self._application_id:
            raise Refusal(403, "wrong_application", "application_id is not this application")
        return lifecycle_message(parsed, document, received_at, self._dedup_seconds)

    async def _entities(
        self, document: Any, url_secret: str | None, received_at: datetime
    ) -> list[SerializedMessage]:
        if not url_secret:
            raise Refusal(
                401,
                "missing_webhook_secret",
                "entity webhooks are accepted only on the per-company URL with its secret",
            )
        parsed = parse_entities(document)
        for company_id in sorted({item.company_id for item in parsed}):
            await self._secrets.verify(company_id, url_secret)
        items = document if isinstance(document, list) else [document]
        return [
            entity_message(body, item, received_at, self._dedup_seconds)
            for body, item in zip(parsed, items, strict=True)
        ]


INGEST = web.AppKey("ingest", Ingest)


async def receive(request: web.Request) -> web.Response:
    return await request.app[INGEST].receive(request)


def add_callback_routes(app: web.Application) -> None:
    app.router.add_post(CALLBACK_PATH, receive)
    app.router.add_post(CALLBACK_PATH + "/{webhook_secret}", receive)


def _noticed(request: web.Request, refusal: Refusal) -> None:
    REJECTED.labels(str(refusal.status)).inc()
    if refusal.status >= 500:
        return  # logged where it happened
    REFUSALS_LOGGED.log(
        log.info,
        "webhook refused",
        status=refusal.status,
        error=refusal.code,
        route=route_name(request),
    )


# Every refusal as JSON; anything unexpected as a 503 so YClients retries, never a 500.
json_errors = refusals(
    noticed=_noticed, unexpected=Refusal(503, "unavailable", "try again shortly")
)
