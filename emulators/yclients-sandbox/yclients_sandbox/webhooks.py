"""Delivery of webhooks with YClients' policy: 10 s timeout, two retries 1.5 s apart, then drop."""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import aiohttp

from yclients_sandbox.state import Clock, iso

log = logging.getLogger(__name__)

Outcome = Literal["pending", "delivered", "retry", "dropped", "rejected"]


class Attempt(TypedDict):
    number: int
    time: str
    status: int | None
    error: str | None
    outcome: Outcome


@dataclass
class Delivery:
    id: int
    kind: Literal["lifecycle", "entity"]
    salon_id: int
    url: str
    body: Any
    attempts: list[Attempt] = field(default_factory=list)
    outcome: Outcome = "pending"

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "salon_id": self.salon_id,
            "url": self.url,
            "body": self.body,
            "attempts": list(self.attempts),
            "outcome": self.outcome,
        }


def is_retryable(status: int) -> bool:
    return status == 429 or status >= 500


class WebhookSender:
    """Posts JSON bodies and records every attempt; 2xx delivers, other 4xx are not retried."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        clock: Clock,
        timeout_seconds: float,
        retries: int,
        retry_delay_seconds: float,
    ) -> None:
        self._session = session
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._retries = retries
        self._retry_delay = retry_delay_seconds
        self._ids = itertools.count(1)
        self.deliveries: list[Delivery] = []

    def clear(self) -> None:
        self.deliveries = []

    async def deliver(
        self, kind: Literal["lifecycle", "entity"], salon_id: int, url: str, body: Any
    ) -> Delivery:
        delivery = Delivery(next(self._ids), kind, salon_id, url, body)
        self.deliveries.append(delivery)
        for number in range(1, self._retries + 2):
            status, problem = await self._post(url, body)
            if status is not None and 200 <= status < 300:
                outcome: Outcome = "delivered"
            elif status is not None and not is_retryable(status):
                outcome = "rejected"
            elif number <= self._retries:
                outcome = "retry"
            else:
                outcome = "dropped"
            delivery.attempts.append(
                Attempt(
                    number=number,
                    time=iso(self._clock.now()),
                    status=status,
                    error=problem,
                    outcome=outcome,
                )
            )
            log.info("webhook %s #%d to %s: %s (%s)", kind, number, url, outcome, status or problem)
            if outcome != "retry":
                delivery.outcome = outcome
                break
            await asyncio.sleep(self._retry_delay)
        return delivery

    async def _post(self, url: str, body: Any) -> tuple[int | None, str | None]:
        try:
            async with self._session.post(
                url, json=body, timeout=self._timeout, allow_redirects=False
            ) as response:
                await response.read()
                return response.status, None
        except TimeoutError:
            return None, "timeout"
        except aiohttp.ClientError as exc:
            return None, f"{type(exc).__name__}: {exc}"
