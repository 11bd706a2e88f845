"""Delivery with YClients' policy: 10 s timeout, two retries 1.5 s apart, then drop.

Lifecycle events, entity webhooks and notifications to the operator URL all leave this way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import aiohttp

from yclients_sandbox.clock import Clock, iso

log = logging.getLogger(__name__)

Outcome = Literal["pending", "delivered", "retry", "dropped", "rejected"]
Kind = Literal["lifecycle", "entity", "notification"]
# Enough of an answer to see what it said; an operator's answer is small.
MAX_ANSWER_CHARS = 4000


class Attempt(TypedDict):
    number: int
    time: str
    status: int | None
    error: str | None
    outcome: Outcome
    # The answer's body: parsed JSON, or text; None without an answer.
    answer: Any


@dataclass
class Delivery:
    id: int
    kind: Kind
    salon_id: int
    url: str
    body: Any
    # Headers besides the sender's own (User-Agent, Content-Type).
    headers: dict[str, str] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    outcome: Outcome = "pending"

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "salon_id": self.salon_id,
            "url": self.url,
            "headers": {
                name: redact(value) if name == "Authorization" else value
                for name, value in self.headers.items()
            },
            "body": self.body,
            "attempts": list(self.attempts),
            "outcome": self.outcome,
        }


def redact(authorization: str) -> str:
    """`Bearer <key>` with the key's last four characters only."""
    scheme, _, key = authorization.partition(" ")
    return f"{scheme} …{key[-4:]}" if key else scheme


def read_answer(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text[:MAX_ANSWER_CHARS] if text else None


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
        self,
        kind: Kind,
        salon_id: int,
        url: str,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        return await self.run(self.start(kind, salon_id, url, body, headers))

    def start(
        self,
        kind: Kind,
        salon_id: int,
        url: str,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        """Register a delivery (it shows as pending) without sending it yet."""
        delivery = Delivery(next(self._ids), kind, salon_id, url, body, dict(headers or {}))
        self.deliveries.append(delivery)
        return delivery

    async def run(self, delivery: Delivery) -> Delivery:
        kind, url = delivery.kind, delivery.url
        for number in range(1, self._retries + 2):
            status, problem, answer = await self._post(url, delivery.body, delivery.headers)
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
                    answer=answer,
                )
            )
            log.info("webhook %s #%d to %s: %s (%s)", kind, number, url, outcome, status or problem)
            if outcome != "retry":
                delivery.outcome = outcome
                break
            await asyncio.sleep(self._retry_delay)
        return delivery

    async def _post(
        self, url: str, body: Any, headers: dict[str, str]
    ) -> tuple[int | None, str | None, Any]:
        try:
            async with self._session.post(
                url, json=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                return response.status, None, read_answer(await response.read())
        except TimeoutError:
            return None, "timeout", None
        except aiohttp.ClientError as exc:
            return None, f"{type(exc).__name__}: {exc}", None
