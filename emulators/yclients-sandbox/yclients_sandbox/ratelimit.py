"""YClients' limit: so many requests a second and a minute per client IP (sliding windows)."""

from __future__ import annotations

from collections import deque


class RateLimiter:
    def __init__(self, per_second: int, per_minute: int) -> None:
        self.per_second = per_second
        self.per_minute = per_minute
        self._accepted: dict[str, deque[float]] = {}

    def allow(self, client: str, now: float) -> bool:
        """Count the request if it fits both windows; a refused request is not counted."""
        accepted = self._accepted.setdefault(client, deque())
        while accepted and accepted[0] <= now - 60:
            accepted.popleft()
        last_second = sum(1 for moment in accepted if moment > now - 1)
        if self.per_second and last_second >= self.per_second:
            return False
        if self.per_minute and len(accepted) >= self.per_minute:
            return False
        accepted.append(now)
        return True

    def reset(self) -> None:
        self._accepted.clear()
