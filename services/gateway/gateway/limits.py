"""What one YClients user, one address and one connection may ask for, on every gateway alike.

Each redirect opens a connection and each QR request a WhatsApp login, a scarce resource: a
script with one signed ``user_data`` must not fill wa-session with unscanned logins and keep a
real admin from their first QR. Counters are shared through PostgreSQL (``shared.limits``).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.db import Database
from shared.limits import Limit, take

TEN_MINUTES = 600


def wait_phrase(seconds: int) -> str:
    """How long to wait, as the page says it: «минуту», «5 мин.»."""
    minutes = max(1, round(seconds / 60))
    return "минуту" if minutes == 1 else f"{minutes} мин."


class TooMany(Exception):
    def __init__(self, limit: Limit, retry_after_seconds: int) -> None:
        super().__init__(limit.name)
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class GatewayLimits:
    redirects_per_user: Limit
    redirects_per_address: Limit
    qr_per_connection: Limit
    qr_per_user: Limit
    qr_per_address: Limit
    pairing_codes_per_connection: Limit
    pairing_codes_per_phone: Limit
    # Live unscanned WhatsApp logins one YClients user may hold at once.
    unscanned_logins_per_user: int


async def check(database: Database, *counted: tuple[Limit, str | None]) -> None:
    """Count a request against every limit whose key is known, committed at once (whatever
    becomes of the request, a refused one included), then raise TooMany if any is over."""
    over: list[TooMany] = []
    async with database.unit_of_work() as uow:
        for limit, key in counted:
            if key is not None:
                verdict = await take(uow.session, limit, key)
                if not verdict.allowed:
                    over.append(TooMany(limit, verdict.retry_after_seconds))
        await uow.commit()
    if over:
        raise max(over, key=lambda refusal: refusal.retry_after_seconds)
