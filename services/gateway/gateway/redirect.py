"""``GET /auth/yclients/redirect``: where YClients sends the admin after "Подключить"."""

from __future__ import annotations

import structlog
from aiohttp import web
from prometheus_client import Counter

from gateway import pages, revocations, tokens
from gateway.client_address import client_address
from gateway.context import INSTALLATIONS, LIMITS, SETTINGS, TRUSTED_PROXIES
from gateway.limits import TooMany, check
from gateway.onboarding import UNTOUCHABLE, known_salons, open_connection, supersede
from gateway.redirect_params import BadRedirect, salon_ids_from, verified_user
from shared.logging import Sampled
from shared.messages import LogoutSession
from shared.runtime import INFRA

log = structlog.get_logger(__name__)

REDIRECTS = Counter("gateway_redirects_total", "Redirects from YClients by outcome", ["outcome"])
# Every refusal is counted; a sample is logged (a script can send them as fast as it likes).
REFUSALS_LOGGED = Sampled()

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
        REDIRECTS.labels(exc.reason).inc()
        REFUSALS_LOGGED.log(log.info, "redirect refused", reason=exc.reason)
        return pages.redirect_error(exc.reason, exc.status)
    user_id = user.id if user is not None else None

    infra = request.app[INFRA]
    limits = request.app[LIMITS]
    address = client_address(request, request.app[TRUSTED_PROXIES])
    try:
        await check(
            infra.database,
            (limits.redirects_per_user, user_id),
            (limits.redirects_per_address, address),
        )
    except TooMany as exc:
        REDIRECTS.labels("rate_limited").inc()
        REFUSALS_LOGGED.log(
            log.warning,
            "redirects over the limit",
            limit=exc.limit.name,
            marketplace_user_id=user_id,
        )
        return pages.too_many_redirects(exc.retry_after_seconds)
    async with infra.database.unit_of_work() as uow:
        known = await known_salons(uow.session, salon_ids)
    # Asked outside any transaction: no YClients call while rows are locked.
    reclaimable = await request.app[INSTALLATIONS].not_installed(
        salon_id for salon_id, salon in known.items() if salon.status in UNTOUCHABLE
    )
    async with infra.database.unit_of_work() as uow:
        opened = await open_connection(
            uow.session, salon_ids, user, settings.claim_seconds, reclaimable
        )
        if opened.claimed_by_others:
            REDIRECTS.labels("claimed_by_another_user").inc()
            # An audit line: someone tried to connect salons another YClients user is connecting.
            log.warning(
                "redirect refused: salons are being connected by another yclients user",
                audit=True,
                salon_ids=opened.claimed_by_others,
                marketplace_user_id=user_id,
            )
            return pages.claimed_by_another_user()
        if opened.connection_id is None:
            REDIRECTS.labels("already_connected").inc()
            log.info("redirect for connected salons", salon_ids=salon_ids)
            same_user = all(known[s.id].user_id == user_id for s in opened.untouched)
            return pages.already_connected(
                opened.untouched if same_user else None, settings.yclients_return_url
            )
        token, claims = tokens.encode(
            opened.connection_id,
            settings.jwt_secret.get_secret_value(),
            settings.token_ttl_seconds,
        )
        await tokens.record(uow.session, claims)
        for superseded in opened.emptied:
            # The user started over: the old page loses its token, its login is ended.
            await supersede(uow.session, superseded)
            await revocations.revoke(uow, superseded, "superseded")
            logout = LogoutSession(session_id=str(superseded), reason="superseded")
            uow.publish(logout, str(superseded))
        await uow.commit()
    await infra.outbox.flush(uow)
    REDIRECTS.labels("opened").inc()
    log.info(
        "connection opened",
        correlation_id=str(opened.connection_id),
        salon_ids=opened.claimed,
        left_as_they_are=[salon.id for salon in opened.untouched],
        superseded=[str(connection_id) for connection_id in opened.emptied],
        reclaimed=sorted(reclaimable),
    )
    # In the fragment: never sent to a server, so not in access logs nor in a Referer.
    raise web.HTTPFound(f"{ONBOARDING_PATH}#token={token}")
