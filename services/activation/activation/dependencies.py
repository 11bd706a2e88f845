"""What the handlers need, wired once in ``app.py`` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from activation.settings import ActivationSettings
from shared.bus import Outbox
from shared.db import Database
from shared.messages import Payload
from shared.yclients import YClientsClient


@dataclass(frozen=True)
class Dependencies:
    settings: ActivationSettings
    database: Database
    outbox: Outbox
    yclients: YClientsClient

    async def publish_now(self, payload: Payload, correlation_id: str) -> None:
        """Publish at once through the outbox, not at the end of the message's transaction
        (``activation.started`` must reach the page before the install calls are done)."""
        async with self.database.unit_of_work() as uow:
            uow.publish(payload, correlation_id)
            await uow.commit()
        await self.outbox.flush(uow)
