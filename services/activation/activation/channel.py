"""The salon's ``whatsapp`` channel in YClients follows the WhatsApp login: off while it is lost."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy import select

from activation.activate import CHANNELS, INSTALLED
from activation.dependencies import Dependencies
from shared.db import UnitOfWork
from shared.models import Company, Connection
from shared.yclients import YClientsError

log = structlog.get_logger(__name__)


async def switch_channel_off(uow: UnitOfWork, deps: Dependencies, connection_id: uuid.UUID) -> None:
    """WhatsApp was logged out: YClients must stop offering the channel for these salons.

    update_channel is idempotent, so a retry after a transient failure just calls it again.
    """
    connection = await uow.session.get(Connection, connection_id, with_for_update=True)
    if connection is None:
        return
    connection.whatsapp_phone = None
    companies = await uow.session.scalars(
        select(Company)
        .where(
            Company.connection_id == connection_id,
            Company.integration_status.in_(INSTALLED),
        )
        .order_by(Company.id)
        .with_for_update()
    )
    for company in companies:
        if company.whatsapp_channel_enabled is False:
            continue
        try:
            await deps.yclients.update_channel(company.id, CHANNELS[0], False)
        except YClientsError as exc:
            if exc.transient:
                raise
            # Not installed there any more, or refused: nothing to switch off.
            log.warning(
                "yclients refused to switch the channel off",
                salon_id=company.id,
                reason=exc.message,
            )
        company.whatsapp_channel_enabled = False
        company.updated_at = datetime.now(UTC)
        log.info("whatsapp channel switched off", salon_id=company.id)
