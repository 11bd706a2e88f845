"""The sandbox's time: wall time that tests can shift forward, and how it is written."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

MOSCOW = timezone(timedelta(hours=3))


class Clock:
    """Wall time plus an offset, e.g. past the activation window; listeners hear every shift."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0
        self.listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        return time.time() + self.offset_seconds

    def advance(self, seconds: float) -> None:
        self.offset_seconds += seconds
        self._moved()

    def reset(self) -> None:
        self.offset_seconds = 0.0
        self._moved()

    def _moved(self) -> None:
        for listener in self.listeners:
            listener()


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def yclients_time(timestamp: float) -> str:
    """YClients' own date format, Moscow time: `2022-06-27 12:20:02`."""
    return datetime.fromtimestamp(timestamp, MOSCOW).strftime("%Y-%m-%d %H:%M:%S")
