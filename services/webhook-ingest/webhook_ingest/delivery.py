"""Getting accepted events to RabbitMQ before the 2xx: a broker confirm, or the spool.

All requests publish on the one confirm channel concurrently; aio-pika pipelines the publishes
and RabbitMQ acknowledges them in batches, so a confirm per request does not serialize them.
The events go to the fsynced spool instead, and the forwarder hands them to the broker later,
when the broker is down, does not confirm in time, already has ``max_in_flight`` of our
publishes waiting for a confirm, or the spool still holds a backlog: past that point more
waiting only adds latency (the broker's confirm rate is the limit), while one fsync covers
every request that arrives meanwhile, and new events do not overtake the spooled ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

import structlog
from prometheus_client import Counter, Gauge

from shared.bus import Publisher, SerializedMessage
from shared.refusals import Refusal
from shared.topology import EVENTS_EXCHANGE
from webhook_ingest.spool import Spool, orphaned_slots, read_segment

log = structlog.get_logger(__name__)

ACCEPTED = Counter(
    "webhook_ingest_events_total", "Accepted YClients events by where they went", ["outcome"]
)
SPOOL_BYTES = Gauge(
    "webhook_ingest_spool_bytes", "Bytes of accepted events in the spool, not yet forwarded"
)
PUBLISHED = ACCEPTED.labels("published")
SPOOLED = ACCEPTED.labels("spooled")
FORWARD_BATCH = 256
# The forwarder is not holding up a request, so it can wait for a slow broker.
FORWARD_TIMEOUT_SECONDS = 30.0


class Delivery:
    def __init__(
        self,
        publisher: Publisher,
        broker_up: Callable[[], bool],
        spool: Spool,
        publish_timeout: float,
        max_in_flight: int,
        spool_max_bytes: int,
    ) -> None:
        self._publisher = publisher
        self._broker_up = broker_up
        self._spool = spool
        self._timeout = publish_timeout
        self._max_in_flight = max_in_flight
        self._spool_max_bytes = spool_max_bytes
        self._in_flight = 0

    async def deliver(self, messages: list[SerializedMessage]) -> Literal["published", "spooled"]:
        """Returns only once every message is confirmed by the broker or fsynced in the spool."""
        if self._broker_up() and self._has_room(len(messages)) and not self._spool.has_pending():
            self._in_flight += len(messages)
            try:
                await self._publish(messages, self._timeout)
            except Exception as exc:
                log.warning("publish failed; spooling", error=repr(exc), events=len(messages))
            else:
                PUBLISHED.inc(len(messages))
                return "published"
            finally:
                self._in_flight -= len(messages)
        if self._spool.pending_bytes() >= self._spool_max_bytes:
            # The broker has been away long enough to fill the spool: now a 503 makes YClients
            # retry, rather than filling the disk other things need.
            log.error("spool full; refusing webhooks", spool_bytes=self._spool.pending_bytes())
            raise Refusal(503, "busy", "try again shortly")
        await self._spool.append(messages)
        SPOOLED.inc(len(messages))
        return "spooled"

    def _has_room(self, count: int) -> bool:
        # A batch larger than the limit still goes to the broker when nothing else waits.
        return self._in_flight == 0 or self._in_flight + count <= self._max_in_flight

    async def _publish(self, messages: list[SerializedMessage], timeout: float) -> None:
        await self._publisher.publish_serialized(EVENTS_EXCHANGE, messages, timeout)

    async def forward_spool(self) -> int:
        """Publish what this process's spool holds, then what dead processes' slots hold."""
        if not self._broker_up():
            return 0
        forwarded = await self._forward(self._spool)
        for orphan in orphaned_slots(self._spool.directory.parent, own=self._spool):
            forwarded += await self._forward(orphan)
        return forwarded

    async def _forward(self, spool: Spool) -> int:
        """A sealed file is deleted only once all of it is confirmed."""
        if not spool.has_pending():
            return 0
        await spool.seal()
        forwarded = 0
        for segment in spool.sealed():
            batch: list[SerializedMessage] = []
            for message in read_segment(segment):
                batch.append(message)
                if len(batch) >= FORWARD_BATCH:
                    await self._publish(batch, FORWARD_TIMEOUT_SECONDS)
                    forwarded += len(batch)
                    batch = []
            if batch:
                await self._publish(batch, FORWARD_TIMEOUT_SECONDS)
                forwarded += len(batch)
            spool.forwarded(segment)
        return forwarded

    async def run_forwarder(self, interval: float = 0.5) -> None:
        while True:
            try:
                forwarded = await self.forward_spool()
                if forwarded:
                    log.info("forwarded spooled events", events=forwarded)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("spool forwarding failed; will retry", error=repr(exc))
            await asyncio.sleep(interval)
