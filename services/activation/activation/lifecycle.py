"""YClients' lifecycle events for a salon: uninstall, freeze, payment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import func, select

from shared.db import UnitOfWork
from shared.messages import LifecycleReceived, LogoutSession
from shared.models import Company, Connection, IntegrationStatus

log = structlog.get_logger(__name__)

LifecycleHandler = Callable[[UnitOfWork, Company, LifecycleReceived], Awaitable[None]]


async def uninstalled(uow: UnitOfWork, company: Company, event: LifecycleReceived) -> None:
    """Forget the installation so that a later "Подключить" starts from scratch, and log the
    WhatsApp session out once no other salon of its connection uses it."""
    connection_id = company.connection_id
    moment = datetime.now(UTC)
    company.integration_status = IntegrationStatus.UNINSTALLED
    company.uninstalled_at = moment
    company.api_key_hash = None
    company.webhook_secret = None
    company.connection_id = None
    company.whatsapp_channel_enabled = None
    company.updated_at = moment
    if connection_id is None:
        return
    still_used = await uow.session.scalar(
        select(func.count())
        .select_from(Company)
        .where(
            Company.connection_id == connection_id,
            Company.integration_status != IntegrationStatus.UNINSTALLED,
        )
    )
    if still_used:
        log.info("salon uninstalled; its WhatsApp still serves other salons")
        return
    connection = await uow.session.get(Connection, connection_id)  # locked in locked_company
    if connection is not None:
        connection.status = "uninstalled"
        connection.whatsapp_phone = None
        connection.updated_at = moment
    uow.publish(
        LogoutSession(session_id=str(connection_id), reason="uninstalled"), str(connection_id)
    )
    log.info("salon uninstalled; logging its WhatsApp out")


async def frozen(uow: UnitOfWork, company: Company, event: LifecycleReceived) -> None:
    if company.integration_status == IntegrationStatus.UNINSTALLED:
        return
    company.integration_status = IntegrationStatus.FROZEN
    company.frozen_at = event.received_at
    company.updated_at = datetime.now(UTC)


async def paid(uow: UnitOfWork, company: Company, event: LifecycleReceived) -> None:
    company.last_payment_at = event.received_at
    if company.integration_status == IntegrationStatus.FROZEN:
        company.integration_status = IntegrationStatus.ACTIVE
        company.frozen_at = None
    company.updated_at = datetime.now(UTC)


LIFECYCLE: dict[str, LifecycleHandler] = {
    "uninstall": uninstalled,
    "freeze": frozen,
    "payment": paid,
}


async def apply_lifecycle(uow: UnitOfWork, event: LifecycleReceived) -> None:
    handler = LIFECYCLE.get(event.event)
    with structlog.contextvars.bound_contextvars(salon_id=event.salon_id, event=event.event):
        if handler is None:
            log.info("lifecycle event without an action; recorded by webhook-ingest")
            return
        company = await locked_company(uow, event.salon_id)
        if company is None:
            log.warning("lifecycle event for a salon we do not know")
            return
        await handler(uow, company, event)


async def locked_company(uow: UnitOfWork, salon_id: int) -> Company | None:
    """The salon's row locked, after its connection's row: the order activation takes them in
    (its connection lock is held while it locks the salons one by one), so the two never wait
    for each other in a circle."""
    company = await uow.session.get(Company, salon_id)
    if company is None:
        return None
    if company.connection_id is not None:
        await uow.session.get(Connection, company.connection_id, with_for_update=True)
    return await uow.session.get(Company, salon_id, with_for_update=True, populate_existing=True)
