"""The RabbitMQ topology, declared idempotently by whoever needs a part of it.

- ``aiadmin.events`` and ``aiadmin.commands``: durable topic exchanges everything is published to.
- Every consumer owns one durable quorum queue bound to the keys it handles. A message that
  keeps crashing its consumer (``x-delivery-limit``) is dead-lettered by the broker.
- Transient failures go to ``<queue>.retry.<ms>`` (quorum, per-queue TTL), which dead-letters
  back into the queue when the delay is over (at-least-once dead-lettering, so nothing is lost).
- Messages that fail every attempt, or can never succeed, land in ``<queue>.dead`` for an operator
  to inspect and re-drive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

EVENTS_EXCHANGE = "aiadmin.events"
COMMANDS_EXCHANGE = "aiadmin.commands"
RETRY_EXCHANGE = "aiadmin.retry"
DEAD_EXCHANGE = "aiadmin.dead"

DELIVERY_LIMIT = 10


@dataclass(frozen=True)
class Binding:
    exchange: str
    routing_key: str


@dataclass(frozen=True)
class QueueSpec:
    name: str
    bindings: tuple[Binding, ...]
    retry_delays_ms: tuple[int, ...] = (1_000, 5_000, 30_000)
    max_attempts: int = 6
    extra_arguments: dict[str, Any] = field(default_factory=dict)

    def retry_queue(self, attempt: int) -> str:
        return f"{self.name}.retry.{self.delay_for(attempt)}"

    def delay_for(self, attempt: int) -> int:
        return self.retry_delays_ms[min(attempt, len(self.retry_delays_ms)) - 1]

    @property
    def dead_queue(self) -> str:
        return f"{self.name}.dead"


def events(*keys: str) -> tuple[Binding, ...]:
    return tuple(Binding(EVENTS_EXCHANGE, key) for key in keys)


def commands(*keys: str) -> tuple[Binding, ...]:
    return tuple(Binding(COMMANDS_EXCHANGE, key) for key in keys)


async def declare_exchanges(channel: AbstractChannel) -> dict[str, AbstractExchange]:
    exchanges = {}
    for name, kind in (
        (EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC),
        (COMMANDS_EXCHANGE, aio_pika.ExchangeType.TOPIC),
        (RETRY_EXCHANGE, aio_pika.ExchangeType.DIRECT),
        (DEAD_EXCHANGE, aio_pika.ExchangeType.DIRECT),
    ):
        exchanges[name] = await channel.declare_exchange(name, kind, durable=True)
    return exchanges


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    """Declare a consumer's queue with its retry and dead-letter queues and bindings."""
    exchanges = await declare_exchanges(channel)
    dead = await channel.declare_queue(
        spec.dead_queue, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead.bind(exchanges[DEAD_EXCHANGE], routing_key=spec.name)
    for delay in sorted(set(spec.retry_delays_ms)):
        retry_name = f"{spec.name}.retry.{delay}"
        retry = await channel.declare_queue(
            retry_name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": spec.name,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )
        await retry.bind(exchanges[RETRY_EXCHANGE], routing_key=retry_name)
    queue = await channel.declare_queue(
        spec.name,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_EXCHANGE,
            "x-dead-letter-routing-key": spec.name,
            **spec.extra_arguments,
        },
    )
    for binding in spec.bindings:
        await queue.bind(exchanges[binding.exchange], routing_key=binding.routing_key)
    return queue


# Every consumer queue of the system. Each service declares all of them at start (cheap and
# idempotent), so a message is never unroutable because its consumer has not started yet.
GATEWAY_RELAY = QueueSpec(
    "gateway.relay",
    # gateway.* (revocations) is heard by every gateway instance on a queue of its own; bound here
    # too so that it is always routable, even while no instance listens.
    events("wa.session.*", "activation.*", "gateway.*"),
    retry_delays_ms=(500, 2_000),
    max_attempts=3,
)
WA_SESSION_COMMANDS = QueueSpec("wa-session.commands", commands("wa.session.*"))
ACTIVATION_INBOX = QueueSpec(
    "activation.inbox",
    events("wa.session.connected", "wa.session.logged_out", "yclients.lifecycle.*")
    + commands("activation.*"),
    retry_delays_ms=(2_000, 5_000, 15_000, 60_000),
    max_attempts=8,
)
EVENT_RECORDER = QueueSpec("webhook-ingest.recorder", events("yclients.#"))

ALL_QUEUES: tuple[QueueSpec, ...] = (
    GATEWAY_RELAY,
    WA_SESSION_COMMANDS,
    ACTIVATION_INBOX,
    EVENT_RECORDER,
)
