"""What happens when the sandbox's clock reaches a time: reminders, and trials that end unpaid.

One task waits for the earliest such time, or for a change that may move it (a record, an install,
the clock shifted by `/__sandbox/clock`), whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from yclients_sandbox.events import spawn, spawn_lifecycle
from yclients_sandbox.keys import CONFIG, STATE
from yclients_sandbox.notify import send_reminder
from yclients_sandbox.state import SOURCE_BILLING

log = logging.getLogger(__name__)

TRIAL_ENDED = "Пробный период закончился без оплаты: приложение заморожено"


class Scheduler:
    def __init__(self) -> None:
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Something changed: look at the times again."""
        self._wake.set()

    def due_now(self, app: web.Application) -> None:
        """Start what is due at the clock's time; each item is taken once."""
        state = app[STATE]
        now = state.clock.now()
        for record in state.book.reminders_due(app[CONFIG].reminder_before_seconds, now):
            record.reminder = "sent"
            spawn(app, send_reminder(app, record))
        for salon in state.trials_due(now):
            log.info("trial of salon %d ended unpaid: freezing", salon.id)
            state.freeze(salon.id, TRIAL_ENDED, SOURCE_BILLING)
            spawn_lifecycle(app, salon.id, "freeze")

    def next_time(self, app: web.Application) -> float | None:
        state = app[STATE]
        times = [
            state.book.next_reminder(app[CONFIG].reminder_before_seconds),
            state.next_trial_end(),
        ]
        return min((moment for moment in times if moment is not None), default=None)

    async def run(self, app: web.Application) -> None:
        clock = app[STATE].clock
        while True:
            self._wake.clear()
            try:
                self.due_now(app)
            except Exception:
                # One bad item must not stop the timer for every other salon.
                log.exception("scheduled work failed")
            due = self.next_time(app)
            timeout = None if due is None else max(0.0, due - clock.now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
