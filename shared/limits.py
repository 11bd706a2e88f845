"""Rate limits every instance of a service shares, counted in PostgreSQL.

A fixed window per key: one upsert that counts the request and says whether it is still within
the limit. Refused requests count too, so a flood stays refused until its window ends. Expired
counters are deleted by :func:`prune`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import RateLimitCounter

_TAKE = text(
    """
    WITH w AS (
        SELECT to_timestamp(floor(extract(epoch FROM now()) / :window) * :window) AS start
    )
    INSERT INTO rate_limit_counters AS c (key, window_start, count, expires_at)
    SELECT :key, w.start, 1, w.start + make_interval(secs => :window) FROM w
    ON CONFLICT (key, window_start) DO UPDATE SET count = c.count + 1
    RETURNING c.count, extract(epoch FROM c.expires_at - now())
    """
)


@dataclass(frozen=True)
class Limit:
    """At most ``count`` requests per ``window_seconds`` for one key of ``name``."""

    name: str
    count: int
    window_seconds: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: int


async def take(session: AsyncSession, limit: Limit, key: str) -> Verdict:
    """Count one request for ``key``; allowed while the window's count is within the limit."""
    row = (
        await session.execute(
            _TAKE, {"key": f"{limit.name}:{key}"[:200], "window": limit.window_seconds}
        )
    ).one()
    count, seconds_left = int(row[0]), float(row[1])
    return Verdict(count <= limit.count, max(1, int(seconds_left + 0.999)))


async def prune(session: AsyncSession) -> int:
    result = await session.execute(
        delete(RateLimitCounter).where(RateLimitCounter.expires_at < func.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)
