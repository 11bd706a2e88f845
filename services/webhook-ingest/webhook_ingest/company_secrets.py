"""Checking an entity webhook's URL secret against its company, without a query per request.

Secrets are cached for a short TTL. A miss or a mismatch on an entry older than a second is
checked once more against the database, so a freshly activated or re-keyed company is seen at
once while a flood of bad requests costs at most one query per company per second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from shared.crypto import constant_time_equals
from shared.db import Database
from shared.models import Company
from webhook_ingest.rejections import Rejected

RECHECK_AFTER_SECONDS = 1.0
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class _Entry:
    exists: bool
    secret: str | None
    loaded_at: float


class CompanySecrets:
    def __init__(
        self, database: Database, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._database = database
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[int, _Entry] = {}
        self._loading: dict[int, asyncio.Future[_Entry]] = {}

    async def verify(self, company_id: int, presented: str) -> None:
        """Pass, or raise 404 (no such company) or 403 (not this company's secret)."""
        entry = await self._cached(company_id)
        if (
            not _matches(entry, presented)
            and self._clock() - entry.loaded_at > RECHECK_AFTER_SECONDS
        ):
            entry = await self._load(company_id)
        if not entry.exists:
            raise Rejected(404, "unknown_company", {"company_id": company_id})
        if not _matches(entry, presented):
            raise Rejected(403, "wrong_secret", "the URL secret does not belong to this company_id")

    async def _cached(self, company_id: int) -> _Entry:
        entry = self._entries.get(company_id)
        if entry is not None and self._clock() - entry.loaded_at < self._ttl:
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
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[company_id] = entry
        return entry

    async def _query(self, company_id: int) -> _Entry:
        async with self._database.unit_of_work() as uow:
            row = (
                await uow.session.execute(
                    select(Company.webhook_secret).where(Company.id == company_id)
                )
            ).first()
        if row is None:
            return _Entry(False, None, self._clock())
        return _Entry(True, row[0], self._clock())


def _matches(entry: _Entry, presented: str) -> bool:
    return entry.secret is not None and constant_time_equals(entry.secret, presented)
