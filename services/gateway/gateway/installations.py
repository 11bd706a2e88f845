"""Whether YClients still has the application installed where our data says it is.

A redirect never reopens a salon we hold as installed, but our data can be stale (an uninstall
webhook YClients dropped after its two retries): the admin who clicks «Подключить» again would
then see «Уже подключено» forever. So before refusing, the gateway asks YClients; a salon it
reports as not installed may be connected again. Answers that confirm an installation are
cached briefly, since replayed redirects for installed salons must not spend YClients' rate
limit; a YClients that cannot answer leaves our data as it is.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

import structlog

from shared.yclients import YClientsClient, YClientsError

log = structlog.get_logger(__name__)

# YClients' states of an installation that mean the app really is installed there.
INSTALLED_THERE = ("active", "freezed")
CONFIRMED_TTL_SECONDS = 300.0
MAX_CACHED = 10_000


def installation_status(application: dict[str, object]) -> str:
    """YClients' state of the installation in its application status: documented under
    ``connection_status.status``."""
    connection_status = application.get("connection_status")
    if isinstance(connection_status, dict):
        return str(connection_status.get("status") or "")
    return ""


class Installations:
    def __init__(
        self, yclients: YClientsClient, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._yclients = yclients
        self._clock = clock
        self._confirmed: OrderedDict[int, float] = OrderedDict()

    async def not_installed(self, salon_ids: Iterable[int]) -> frozenset[int]:
        """Those of ``salon_ids`` that YClients says are not installed (our data is stale)."""
        stale = set()
        for salon_id in salon_ids:
            if self._recently_confirmed(salon_id):
                continue
            try:
                found = await self._yclients.application_status(salon_id)
            except YClientsError as exc:
                log.warning(
                    "yclients status unknown; keeping our data", salon_id=salon_id, error=str(exc)
                )
                continue
            status = None if found is None else installation_status(found)
            if status in INSTALLED_THERE:
                self._confirm(salon_id)
            else:
                log.warning(
                    "salon installed here but not in yclients",
                    salon_id=salon_id,
                    yclients_status=status or "not_installed",
                )
                stale.add(salon_id)
        return frozenset(stale)

    def _recently_confirmed(self, salon_id: int) -> bool:
        at = self._confirmed.get(salon_id)
        return at is not None and self._clock() - at < CONFIRMED_TTL_SECONDS

    def _confirm(self, salon_id: int) -> None:
        self._confirmed[salon_id] = self._clock()
        self._confirmed.move_to_end(salon_id)
        while len(self._confirmed) > MAX_CACHED:
            self._confirmed.popitem(last=False)
