"""``GET /auth/yclients/redirect``: where YClients sends the admin after "Подключить"."""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway import pages, tokens
from gateway.context import SETTINGS
from gateway.onboarding import open_connection
from gateway.redirect_params import BadRedirect, salon_ids_from, verified_user
from shared.runtime import INFRA

log = structlog.get_logger(__name__)

ONBOARDING_PATH = "/marketplace/onboarding"


async def yclients_redirect(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    query = request.rel_url.query
    try:
        salon_ids = salon_ids_from(query.items(), settings.max_salons_per_redirect)
        user = verified_user(
            query.get("user_data"),
            query.get("user_data_sign"),
            settings.yclients_partner_token.get_secret_value(),
            settings.require_user_data,
        )
    except BadRedirect as exc:
        log.info("redirect refused", reason=exc.reason)
        return pages.redirect_error(exc.reason, exc.status)

    infra = request.app[INFRA]
    async with infra.database.unit_of_work() as uow:
        opened = await open_connection(uow.session, salon_ids, user)
        if opened.connection_id is None:
            log.info("redirect for connected salons", salon_ids=salon_ids)
            return pages.already_connected(opened.untouched, settings.yclients_return_url)
        token, claims = tokens.encode(
            opened.connection_id,
            settings.jwt_secret.get_secret_value(),
            settings.token_ttl_seconds,
        )
        await tokens.record(uow.session, claims)
        await uow.commit()
    log.info(
        "connection opened",
        correlation_id=str(opened.connection_id),
        salon_ids=opened.claimed,
        left_as_they_are=[salon.id for salon in opened.untouched],
    )
    # In the fragment: never sent to a server, so not in access logs nor in a Referer.
    raise web.HTTPFound(f"{ONBOARDING_PATH}#token={token}")
