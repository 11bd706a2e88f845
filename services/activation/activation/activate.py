"""Installing the application in YClients for every salon of a connection, exactly once each.

Each salon is handled in its own transactions with its row locked, so a crash (even kill -9)
loses at most the salon in hand, and a redelivered message picks up where it stopped:

1. the webhook secret (and with it the api_key, see ``credentials``) is committed *before* the
   call, so a repeated call sends what the first one did;
2. the install call is made with the row still locked, and the salon is committed ``active``
   right after; a salon already ``active`` is never called again, and YClients' "already
   installed" (a call whose answer we lost) counts as done.

Transient failures (network, 429, 5xx after the client's retries) raise, and the bus retries the
message later; refusals (422, 401, 403) mark the salon failed with YClients' reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client import Counter
from sqlalchemy import select

from activation.credentials import api_key_for, api_key_hash_for, new_webhook_secret
from activation.dependencies import Dependencies
from shared.db import UnitOfWork
from shared.messages import ActivationCompleted, ActivationFailed, ActivationStarted
from shared.models import ActivationAttempt, Company, Connection, IntegrationStatus
from shared.yclients import AlreadyInstalled, YClientsError

log = structlog.get_logger(__name__)
INSTALLS = Counter(
    "activation_installs_total",
    "Install calls to YClients by outcome (installed, already_installed, transient, rejected)",
    ["outcome"],
)

CHANNELS = ["whatsapp"]
# Installed on YClients' side: nothing to install again.
INSTALLED = (IntegrationStatus.ACTIVE, IntegrationStatus.FROZEN)

WINDOW_EXPIRED = (
    "Прошло больше часа с момента подключения в YClients. Нажмите «Подключить» в YClients ещё раз."
)


@dataclass(frozen=True)
class Refusal:
    """YClients refused one salon: what to tell the admin."""

    salon_id: int
    message: str


def now() -> datetime:
    return datetime.now(UTC)


async def activate_connection(
    uow: UnitOfWork, deps: Dependencies, connection_id: uuid.UUID, phone: str
) -> None:
    """Install every salon of the connection; publish ``activation.completed`` or ``.failed``."""
    # One activation at a time per connection: the lock is held until the message commits.
    connection = await uow.session.get(Connection, connection_id, with_for_update=True)
    if connection is None:
        log.warning("activation for an unknown connection", connection_id=str(connection_id))
        return
    connection.whatsapp_phone = phone
    salon_ids = await salons_of(uow, connection_id)
    if not salon_ids:
        log.warning("connection has no salons to activate", connection_id=str(connection_id))
        return
    correlation_id = str(connection_id)
    await deps.publish_now(
        ActivationStarted(connection_id=correlation_id, salon_ids=salon_ids), correlation_id
    )

    deadline = connection.consented_at + timedelta(seconds=deps.settings.activation_window_seconds)
    if now() > deadline:
        # A salon left "activating" by a crash may be installed already: YClients says so.
        for salon_id in await salons_in(uow, connection_id, IntegrationStatus.ACTIVATING):
            with structlog.contextvars.bound_contextvars(salon_id=salon_id):
                await activate_salon(deps, connection_id, salon_id, phone)
        expired = await pending_salons(uow, connection_id)
        if expired:
            await fail_window_expired(uow, connection, expired)
            return

    refusals: list[Refusal] = []
    for salon_id in salon_ids:
        with structlog.contextvars.bound_contextvars(salon_id=salon_id):
            refusal = await activate_salon(deps, connection_id, salon_id, phone)
        if refusal is not None:
            refusals.append(refusal)

    if refusals:
        first = refusals[0]
        connection.status = "activation_failed"
        connection.activation_error = first.message
        uow.publish(
            ActivationFailed(
                connection_id=correlation_id,
                reason="rejected",
                message=first.message,
                salon_id=first.salon_id,
                retryable=True,
            ),
            correlation_id,
        )
        return
    connection.status = "active"
    connection.activation_error = None
    uow.publish(
        ActivationCompleted(connection_id=correlation_id, salon_ids=salon_ids), correlation_id
    )
    log.info("connection activated", salons=salon_ids)


async def salons_of(uow: UnitOfWork, connection_id: uuid.UUID) -> list[int]:
    rows = await uow.session.scalars(
        select(Company.id)
        .where(
            Company.connection_id == connection_id,
            Company.integration_status != IntegrationStatus.UNINSTALLED,
        )
        .order_by(Company.id)
    )
    return list(rows)


async def salons_in(uow: UnitOfWork, connection_id: uuid.UUID, status: str) -> list[int]:
    rows = await uow.session.scalars(
        select(Company.id)
        .where(Company.connection_id == connection_id, Company.integration_status == status)
        .order_by(Company.id)
    )
    return list(rows)


async def pending_salons(uow: UnitOfWork, connection_id: uuid.UUID) -> list[int]:
    rows = await uow.session.scalars(
        select(Company.id).where(
            Company.connection_id == connection_id,
            Company.integration_status.not_in((*INSTALLED, IntegrationStatus.UNINSTALLED)),
        )
    )
    return list(rows)


async def fail_window_expired(uow: UnitOfWork, connection: Connection, pending: list[int]) -> None:
    log.warning("activation window is over", salons=pending)
    companies = await uow.session.scalars(
        select(Company).where(Company.id.in_(pending)).with_for_update()
    )
    for company in companies:
        company.integration_status = IntegrationStatus.ACTIVATION_FAILED
        company.activation_error = WINDOW_EXPIRED
        company.updated_at = now()
    connection.status = "activation_failed"
    connection.activation_error = WINDOW_EXPIRED
    uow.publish(
        ActivationFailed(
            connection_id=str(connection.id),
            reason="window_expired",
            message=WINDOW_EXPIRED,
            retryable=False,
        ),
        str(connection.id),
    )


async def locked_company(uow: UnitOfWork, salon_id: int) -> Company | None:
    return await uow.session.get(Company, salon_id, with_for_update=True, populate_existing=True)


async def activate_salon(
    deps: Dependencies, connection_id: uuid.UUID, salon_id: int, phone: str
) -> Refusal | None:
    """Install one salon (or switch its WhatsApp channel back on if it is installed already)."""
    partner_token = deps.settings.yclients_partner_token.get_secret_value()
    async with deps.database.unit_of_work() as uow:
        company = await locked_company(uow, salon_id)
        if company is None or company.connection_id != connection_id:
            return None
        if company.integration_status in INSTALLED:
            await switch_channel_back_on(deps, company, phone)
            await uow.commit()
            return None
        if company.webhook_secret is None:
            company.webhook_secret = new_webhook_secret()
            company.api_key_hash = api_key_hash_for(partner_token, company.webhook_secret)
        company.integration_status = IntegrationStatus.ACTIVATING
        company.activation_error = None
        company.updated_at = now()
        await uow.commit()

    async with deps.database.unit_of_work() as uow:
        company = await locked_company(uow, salon_id)
        if company is None or company.connection_id != connection_id:
            return None
        if company.integration_status in INSTALLED or company.webhook_secret is None:
            return None  # another worker finished it meanwhile
        attempt = ActivationAttempt(company_id=salon_id, connection_id=connection_id)
        uow.session.add(attempt)
        try:
            await deps.yclients.install(
                salon_id,
                api_key_for(partner_token, company.webhook_secret),
                [deps.settings.webhook_url(company.webhook_secret)],
                CHANNELS,
            )
            attempt.outcome, attempt.status_code = "installed", 201
        except AlreadyInstalled as exc:
            attempt.outcome, attempt.status_code = "already_installed", exc.status
        except YClientsError as exc:
            attempt.status_code, attempt.message = exc.status, exc.message
            if exc.transient:
                attempt.outcome = "transient"
                await uow.commit()
                INSTALLS.labels(attempt.outcome).inc()
                raise
            attempt.outcome = "rejected"
            message = refusal_message(company, exc)
            company.integration_status = IntegrationStatus.ACTIVATION_FAILED
            company.activation_error = message
            company.updated_at = now()
            await uow.commit()
            INSTALLS.labels(attempt.outcome).inc()
            log.warning("yclients refused the installation", status=exc.status, reason=exc.message)
            return Refusal(salon_id, message)
        moment = now()
        company.integration_status = IntegrationStatus.ACTIVE
        company.activated_at = moment
        company.whatsapp_phone = phone
        company.whatsapp_connected_at = moment
        company.whatsapp_channel_enabled = True
        company.activation_error = None
        company.updated_at = moment
        await uow.commit()
        INSTALLS.labels(attempt.outcome).inc()
        log.info("salon activated", outcome=attempt.outcome)
        return None


async def switch_channel_back_on(deps: Dependencies, company: Company, phone: str) -> None:
    """WhatsApp is linked again for a salon that is installed: tell YClients the channel works."""
    company.whatsapp_phone = phone
    company.whatsapp_connected_at = now()
    if company.whatsapp_channel_enabled is False:
        try:
            await deps.yclients.update_channel(company.id, CHANNELS[0], True)
        except YClientsError as exc:
            if exc.transient:
                raise
            log.warning("yclients refused to switch the channel on", reason=exc.message)
            return
        company.whatsapp_channel_enabled = True
        log.info("whatsapp channel switched back on")
    company.updated_at = now()


def refusal_message(company: Company, exc: YClientsError) -> str:
    salon = f"«{company.salon_name}»" if company.salon_name else f"№{company.id}"
    reason = exc.message.strip() or f"ошибка {exc.status}"
    if not reason.endswith((".", "!", "?")):
        reason += "."
    return (
        f"YClients не подключил приложение в филиале {salon}: {reason} "
        "Исправьте причину и нажмите «Повторить»."
    )
