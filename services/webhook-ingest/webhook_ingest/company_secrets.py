"""Checking an entity webhook's URL secret against its company, without a query per request.

Secrets are cached for a short TTL, unknown companies too, in a bounded cache that forgets the
least recently used entries first. A miss or a mismatch on an entry older than a second is
checked once more against the database, so a freshly activated or re-keyed company is seen at
once while a flood of bad requests costs at most one query per company per second.

An unknown company and a wrong secret get the same answer: telling them apart would let anyone
learn which salon ids have installed the app.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from shared.crypto import constant_time_equals
from shared.db import Database
from shared.models import Company
from shared.refusals import Refusal

RECHECK_AFTER_SECONDS = 1.0
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class _Entry:
    secret: str | None  # None: no such company, or no secret
    loaded_at: float


class CompanySecrets:
    def __init__(
        self,
        database: Database,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._database = database
        self._ttl = ttl
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._loading: dict[int, asyncio.Future[_Entry]] = {}

    def cached(self) -> int:
        return len(self._entries)

    async def verify(self, company_id: int, presented: str) -> None:
        """Pass, or raise 403: no such company, or not its secret (the same answer)."""
        entry = await self._cached(company_id)
        if (
            not _matches(entry, presented)
            and self._clock() - entry.loaded_at > RECHECK_AFTER_SECONDS
        ):
            entry = await self._load(company_id)
        if not _matches(entry, presented):
            raise Refusal(403, "wrong_secret", "the URL secret does not belong to this company_id")

    async def _cached(self, company_id: int) -> _Entry:
        entry = self._entries.get(company_id)
        if entry is not None and self._clock() - entry.loaded_at < self._ttl:
            self._entries.move_to_end(company_id)
            return entry
        return await self._load(company_id)

    async def _load(self, company_id: int) -> _Entry:
        """One query per company however many requests wait for it."""
        pending = self._loading.get(company_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._loading[company_id] = future
        try:
            entry = await self._query(company_id)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marks it retrieved: nobody else may be waiting
            raise
        finally:
            del self._loading[company_id]
        future.set_result(entry)
        self._entries[company_id] = entry
        self._entries.move_to_end(company_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return entry

    async def _query(self, company_id: int) -> _Entry:
        async with self._database.unit_of_work() as uow:
            row = (
                await uow.session.execute(
                    select(Company.webhook_secret).where(Company.id == company_id)
                )
            ).first()
        return _Entry(None if row is None else row[0], self._clock())


def _matches(entry: _Entry, presented: str) -> bool:
    return entry.secret is not None and constant_time_equals(entry.secret, presented)
