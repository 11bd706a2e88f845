"""How often one connection may ask for a new WhatsApp login.

Every request makes wa-session open a WhatsApp socket and show a fresh QR, and WhatsApp frowns on
many pairing attempts from one place. A page stuck in a loop, or a script holding a leaked link,
is stopped here: at most ``limit`` requests per connection in a sliding ``window``. The count is
per gateway instance, so with N instances a connection gets at most N times that; enough to stop
a flood.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable

from gateway.actions import ActionRefused

# Past this many connections, ones with no recent request are forgotten.
_SWEEP_ABOVE = 10_000


class QrRequestLimits:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._recent: dict[uuid.UUID, deque[float]] = {}

    def take(self, connection_id: uuid.UUID) -> None:
        """Count one request, or refuse with 429 if the connection has had its share."""
        now = self._clock()
        if len(self._recent) > _SWEEP_ABOVE:
            self._forget_idle(now)
        recent = self._recent.setdefault(connection_id, deque())
        while recent and recent[0] <= now - self._window:
            recent.popleft()
        if len(recent) >= self._limit:
            raise ActionRefused(
                429,
                "too_many_qr_requests",
                "Слишком много запросов QR-кода подряд. Подождите минуту "
                "и нажмите «Получить новый QR-код» ещё раз.",
            )
        recent.append(now)

    def _forget_idle(self, now: float) -> None:
        for connection_id, recent in list(self._recent.items()):
            if not recent or recent[-1] <= now - self._window:
                del self._recent[connection_id]
