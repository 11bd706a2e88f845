"""Publishing with broker confirms, consuming with acks after commit, and the outbox relay."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from pamqp.commands import Basic
from pydantic import ValidationError
from sqlalchemy import delete, func, select

from shared.db import Database, UnitOfWork
from shared.messages import Envelope, Payload, utcnow
from shared.metrics import MESSAGE_LAG_SECONDS, MESSAGES_CONSUMED, MESSAGES_PUBLISHED
from shared.models import OutboxMessage, ProcessedMessage
from shared.topology import (
    COMMANDS_EXCHANGE,
    DEAD_EXCHANGE,
    EVENTS_EXCHANGE,
    RETRY_EXCHANGE,
    QueueSpec,
    declare_exchanges,
    declare_queue,
)

log = structlog.get_logger(__name__)

# A message's handler gets its payload, parsed once into its class, and the unit of work the
# message is handled in; a service binds its other dependencies (functools.partial).
Handler = Callable[[Any, UnitOfWork], Awaitable[None]]


@dataclass(frozen=True)
class Relay:
    """A handler that only passes an event on (to a browser, to a cache): it gets the payload
    alone and runs without a unit of work, so without a transaction or a claim of the message
    id. A redelivered message is passed on again, which such a handler must bear."""

    handle: Callable[[Any], Awaitable[None]]


# What a consumer routes: each payload class to its handler.
Handlers = Mapping[type[Payload], Handler | Relay]
# Handles many envelopes in one unit of work; must be idempotent by itself (see BatchConsumer).
BatchHandler = Callable[[Sequence[Envelope], UnitOfWork], Awaitable[None]]

ATTEMPT_HEADER = "x-attempt"
# Message ids are kept this long for deduplication: far longer than any retry or redelivery.
PROCESSED_RETENTION = timedelta(days=7)


class PermanentError(Exception):
    """A message that can never be handled: straight to the dead-letter queue."""


async def connect(url: str) -> AbstractRobustConnection:
    """A connection that reconnects by itself and restores its channels and consumers."""
    return await aio_pika.connect_robust(url, client_properties={"connection_name": "aiadmin"})


def to_amqp(envelope: Envelope, headers: Mapping[str, Any] | None = None) -> aio_pika.Message:
    return aio_pika.Message(
        body=envelope.to_bytes(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=envelope.id,
        correlation_id=envelope.correlation_id,
        type=envelope.type,
        timestamp=envelope.time,
        headers=dict(headers or {}),
    )


@dataclass(frozen=True, slots=True)
class SerializedMessage:
    """An envelope already turned into JSON, with what its AMQP properties carry."""

    routing_key: str
    message_id: str
    message_type: str
    correlation_id: str
    time: datetime
    body: bytes


def _properties(message: SerializedMessage) -> Basic.Properties:
    return Basic.Properties(
        content_type="application/json",
        delivery_mode=2,  # persistent
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        message_type=message.message_type,
        timestamp=message.time,
        headers={},
    )


class Publisher:
    """Publishes persistent messages and returns only once the broker confirmed them.

    Unroutable messages raise instead of vanishing (mandatory + on_return_raises).
    """

    def __init__(self, channel: AbstractChannel, exchanges: Mapping[str, AbstractExchange]) -> None:
        self._channel = channel
        self._exchanges = exchanges

    @classmethod
    async def open(cls, connection: AbstractRobustConnection) -> Publisher:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        return cls(channel, await declare_exchanges(channel))

    async def publish_envelope(
        self,
        envelope: Envelope,
        *,
        exchange: str,
        routing_key: str,
        headers: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> None:
        await self._exchanges[exchange].publish(
            to_amqp(envelope, headers), routing_key=routing_key, mandatory=True, timeout=timeout
        )
        MESSAGES_PUBLISHED.labels(exchange, envelope.type).inc()

    async def publish_serialized(
        self, exchange: str, messages: Sequence[SerializedMessage], timeout: float
    ) -> None:
        """Publish all at once; returns when the broker confirmed every one of them.

        Goes straight to the underlying aiormq channel: building aio-pika ``Message`` objects
        costs as much CPU again as the publish itself, which shows on the webhook hot path.
        aiormq raises on a nack (DeliveryError) and on an unroutable message (PublishError).
        """
        channel = await self._channel.get_underlay_channel()
        async with asyncio.timeout(timeout):
            await asyncio.gather(
                *(
                    channel.basic_publish(
                        message.body,
                        exchange=exchange,
                        routing_key=message.routing_key,
                        properties=_properties(message),
                        mandatory=True,
                    )
                    for message in messages
                )
            )
        for message in messages:
            MESSAGES_PUBLISHED.labels(exchange, message.message_type).inc()

    async def publish_message(
        self, exchange: str, message: aio_pika.Message, routing_key: str
    ) -> None:
        # "" is the default exchange: straight to the queue named by the routing key.
        target = self._channel.default_exchange if exchange == "" else self._exchanges[exchange]
        await target.publish(message, routing_key=routing_key, mandatory=True)

    async def send(self, payload: Payload, correlation_id: str) -> Envelope:
        envelope = Envelope.wrap(payload, correlation_id)
        exchange = COMMANDS_EXCHANGE if payload.kind == "command" else EVENTS_EXCHANGE
        await self.publish_envelope(envelope, exchange=exchange, routing_key=payload.routing_key())
        return envelope

    async def close(self) -> None:
        await self._channel.close()


class Outbox:
    """Publishes what units of work committed, and re-publishes leftovers after a crash."""

    def __init__(self, database: Database, publisher: Publisher) -> None:
        self._database = database
        self._publisher = publisher

    async def flush(self, uow: UnitOfWork) -> None:
        if not uow.outgoing:
            return
        for exchange, routing_key, envelope in uow.outgoing:
            await self._publisher.publish_envelope(
                envelope, exchange=exchange, routing_key=routing_key
            )
        ids = [envelope.id for _, _, envelope in uow.outgoing]
        uow.outgoing.clear()
        async with self._database.unit_of_work() as cleanup:
            await cleanup.session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
            await cleanup.commit()

    async def relay_once(self, older_than_seconds: float = 5.0, batch: int = 200) -> int:
        """Publish outbox rows whose writer did not (it crashed or the broker was down)."""
        async with self._database.unit_of_work() as uow:
            rows = (
                await uow.session.execute(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.created_at
                        < func.now() - timedelta(seconds=older_than_seconds)
                    )
                    .order_by(OutboxMessage.created_at)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
            published = []
            for row in rows:
                await self._publisher.publish_envelope(
                    Envelope.from_bytes(row.body),
                    exchange=row.exchange,
                    routing_key=row.routing_key,
                )
                published.append(row.id)
            if published:
                await uow.session.execute(
                    delete(OutboxMessage).where(OutboxMessage.id.in_(published))
                )
            await uow.commit()
            return len(published)

    async def prune_processed(self, older_than: timedelta = PROCESSED_RETENTION) -> int:
        """Forget handled message ids older than any redelivery or retry could be."""
        async with self._database.unit_of_work() as uow:
            result = await uow.session.execute(
                delete(ProcessedMessage).where(
                    ProcessedMessage.processed_at < func.now() - older_than
                )
            )
            await uow.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    async def run_relay(self, interval: float = 2.0, prune_every: float = 3600.0) -> None:
        next_prune = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                while await self.relay_once() > 0:
                    pass
                if loop.time() >= next_prune:
                    next_prune = loop.time() + prune_every
                    await self.prune_processed()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay failed; will retry", error=str(exc))
            await asyncio.sleep(interval)


async def listen(
    connection: AbstractRobustConnection,
    routing_keys: Sequence[str],
    on_envelope: Callable[[Envelope], Awaitable[None]],
) -> Callable[[], Awaitable[None]]:
    """Hear every event with these routing keys on a queue of this process's own (exclusive,
    gone with it): for what every instance must know, not what one instance must do. Nothing is
    kept for a process that is not listening. Returns the stop."""
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    for key in routing_keys:
        await queue.bind(EVENTS_EXCHANGE, routing_key=key)

    async def on_message(message: AbstractIncomingMessage) -> None:
        async with message.process(ignore_processed=True):
            try:
                envelope = Envelope.from_bytes(message.body)
            except ValidationError:
                log.warning("ignored a malformed broadcast", routing_key=message.routing_key)
                return
            await on_envelope(envelope)

    await queue.consume(on_message)
    return channel.close


class Consumer:
    """Consumes one queue: one unit of work per message, ack only after it committed.

    A message already handled (same id) is acked without calling the handler again. A handler
    error sends the message to a delayed retry, and after the last attempt to ``<queue>.dead``;
    ``PermanentError`` and malformed messages go to ``<queue>.dead`` at once.
    """

    def __init__(
        self,
        *,
        connection: AbstractRobustConnection,
        spec: QueueSpec,
        handlers: Handlers,
        database: Database,
        outbox: Outbox,
        publisher: Publisher,
        prefetch: int = 32,
    ) -> None:
        self._connection = connection
        self._spec = spec
        # By the wire name (the envelope's type): the payload class and its handler.
        self._routes = {cls.message_type: (cls, handler) for cls, handler in handlers.items()}
        self._database = database
        self._outbox = outbox
        self._publisher = publisher
        self._prefetch = prefetch
        self._channel: AbstractChannel | None = None
        self._tag: str | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.handled = 0

    async def start(self) -> None:
        self._channel = await self._connection.channel()
        await self._channel.set_qos(prefetch_count=self._prefetch)
        queue = await declare_queue(self._channel, self._spec)
        self._queue = queue
        self._tag = await queue.consume(self._on_message)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking messages, let those in hand finish, then close the channel."""
        if self._tag is not None:
            with contextlib.suppress(Exception):
                await self._queue.cancel(self._tag)
            self._tag = None
        await self._finish_in_hand(grace)
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()

    async def _finish_in_hand(self, grace: float) -> None:
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=grace)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._process(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    def handles(self, message_type: str) -> bool:
        return message_type in self._routes

    async def _process(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.from_bytes(message.body)
        except ValidationError as exc:
            await self._dead_letter(message, f"malformed envelope: {exc.error_count()} errors")
            return
        route = self._routes.get(envelope.type)
        if route is None:
            await message.ack()
            return
        payload_class, handler = route
        MESSAGE_LAG_SECONDS.labels(self._spec.name).observe(
            max(0.0, (utcnow() - envelope.time).total_seconds())
        )
        attempt = int(str((message.headers or {}).get(ATTEMPT_HEADER, 0) or 0)) + 1
        with structlog.contextvars.bound_contextvars(
            message_id=envelope.id,
            message_type=envelope.type,
            correlation_id=envelope.correlation_id,
            consumer=self._spec.name,
        ):
            try:
                payload = envelope.parse(payload_class)
                if isinstance(handler, Relay):
                    await handler.handle(payload)
                    outcome = "handled"
                else:
                    async with self._database.unit_of_work() as uow:
                        outcome = "duplicate"
                        if await uow.claim_message(self._spec.name, envelope.id):
                            await handler(payload, uow)
                            outcome = "handled"
                        await uow.commit()
                    await self._outbox.flush(uow)
            except (PermanentError, ValidationError) as exc:
                log.error("message cannot be handled", error=str(exc))
                await self._dead_letter(message, str(exc))
                return
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)
                raise
            except Exception as exc:
                await self._retry(message, envelope, attempt, exc)
                return
            await message.ack()
            self.handled += 1
            MESSAGES_CONSUMED.labels(self._spec.name, envelope.type, outcome).inc()

    async def _retry(
        self,
        message: AbstractIncomingMessage,
        envelope: Envelope,
        attempt: int,
        exc: Exception,
    ) -> None:
        MESSAGES_CONSUMED.labels(self._spec.name, envelope.type, "failed").inc()
        if attempt >= self._spec.max_attempts:
            log.error("giving up after attempts", attempts=attempt, error=repr(exc))
            await self._dead_letter(message, repr(exc))
            return
        delay = self._spec.delay_for(attempt)
        log.warning(
            "handler failed; retrying later", attempt=attempt, delay_ms=delay, error=repr(exc)
        )
        try:
            await self._publisher.publish_envelope(
                envelope,
                exchange=RETRY_EXCHANGE,
                routing_key=self._spec.retry_queue(attempt),
                headers={ATTEMPT_HEADER: attempt, "x-last-error": repr(exc)[:500]},
            )
        except Exception:
            await message.nack(requeue=True)
            return
        await message.ack()

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str) -> None:
        headers = dict(message.headers or {})
        headers["x-dead-reason"] = reason[:500]
        try:
            await self._publisher.publish_message(
                DEAD_EXCHANGE,
                aio_pika.Message(
                    body=message.body,
                    headers=headers,
                    content_type=message.content_type,
                    message_id=message.message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                self._spec.name,
            )
        except Exception:
            await message.nack(requeue=True)
            return
        await message.ack()


class BatchConsumer(Consumer):
    """Consumes one queue in batches: many messages, one unit of work, then their acks.

    Deliveries are collected until ``max_batch`` of them are in hand or ``linger`` seconds passed
    since the first; the batch handler then gets all their envelopes in ONE unit of work, and
    every message is acked only after it committed. One transaction per batch instead of one per
    message is what makes a high-volume, cheap-per-message queue (the event recorder) fast.

    Exactly-once rests on the batch handler itself: it MUST be idempotent (e.g. an
    ``INSERT .. ON CONFLICT DO NOTHING`` on a natural key), since the batch path does not claim
    message ids in ``processed_messages``. A redelivery of an already committed message (a crash
    between commit and ack, a reconnect, a duplicate publish) is simply handled again, harmlessly.

    Malformed envelopes go to ``<queue>.dead`` and messages of a type without a handler are acked,
    as ``Consumer`` does. If the batch transaction fails, its messages are handled one by one
    through the per-message path (``Consumer._process``: a message-id claim, the per-message
    handler of ``handlers``, delayed retries, dead-lettering), so one poison message neither
    blocks nor loses the others.

    Batches are handled one after another, in delivery order, by a single task: when a batch is
    acked every earlier delivery has been acked, nacked or dead-lettered, so one ``multiple`` ack
    on its last message covers it, unless a reconnect put its messages on different channels.
    """

    def __init__(
        self,
        *,
        connection: AbstractRobustConnection,
        spec: QueueSpec,
        handlers: Handlers,
        batch_handler: BatchHandler,
        database: Database,
        outbox: Outbox,
        publisher: Publisher,
        prefetch: int = 512,
        max_batch: int = 256,
        linger: float = 0.02,
    ) -> None:
        super().__init__(
            connection=connection,
            spec=spec,
            handlers=handlers,
            database=database,
            outbox=outbox,
            publisher=publisher,
            prefetch=prefetch,
        )
        self._batch_handler = batch_handler
        self._max_batch = max_batch
        self._linger = linger
        # Deliveries in hand, in delivery order; None asks the batching task to finish.
        self._inbox: asyncio.Queue[AbstractIncomingMessage | None] = asyncio.Queue()
        self._batching: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._batching = asyncio.create_task(self._run(), name=f"batches:{self._spec.name}")
        await super().start()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._inbox.put_nowait(message)

    async def _finish_in_hand(self, grace: float) -> None:
        """Handle (commit and ack) what was delivered before consuming stopped.

        Whatever is still unacked when the grace runs out is requeued by the broker when the
        channel closes: redelivered later, never lost, and harmless if it was committed.
        """
        if self._batching is None:
            return
        await asyncio.sleep(0)  # deliveries read before the cancel reach the inbox first
        self._inbox.put_nowait(None)
        done, _ = await asyncio.wait({self._batching}, timeout=grace)
        if not done:
            self._batching.cancel()
            await asyncio.gather(self._batching, return_exceptions=True)
        self._batching = None

    async def _run(self) -> None:
        finishing = False
        while not finishing:
            batch, finishing = await self._collect()
            if not batch:
                continue
            try:
                await self._handle_batch(batch)
            except Exception as exc:
                # Only an ack on a lost channel gets here: the broker redelivers those messages.
                log.warning("batch not acknowledged", consumer=self._spec.name, error=repr(exc))

    async def _collect(self) -> tuple[list[AbstractIncomingMessage], bool]:
        """The next batch, and whether the consumer is finishing after it."""
        first = await self._inbox.get()
        if first is None:
            return [], True
        batch = [first]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger
        while len(batch) < self._max_batch:
            if self._inbox.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        message = await self._inbox.get()
                except TimeoutError:
                    break
            else:
                message = self._inbox.get_nowait()
            if message is None:
                return batch, True
            batch.append(message)
        return batch, False

    async def _handle_batch(self, batch: Sequence[AbstractIncomingMessage]) -> None:
        messages: list[AbstractIncomingMessage] = []
        envelopes: list[Envelope] = []
        for message in batch:
            try:
                envelope = Envelope.from_bytes(message.body)
            except ValidationError:
                envelope = None
            if envelope is None or not self.handles(envelope.type):
                # Malformed (dead-lettered) or nobody's (acked): exactly as one by one.
                await self._process(message)
            else:
                messages.append(message)
                envelopes.append(envelope)
        if not messages:
            return
        started = utcnow()
        try:
            async with self._database.unit_of_work() as uow:
                await self._batch_handler(envelopes, uow)
                await uow.commit()
            await self._outbox.flush(uow)
        except asyncio.CancelledError:
            for message in messages:
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)
            raise
        except Exception as exc:
            log.warning(
                "batch failed; handling its messages one by one",
                consumer=self._spec.name,
                size=len(messages),
                error=repr(exc),
            )
            for message in messages:
                await self._process(message)
            return
        await self._ack(messages)
        self.handled += len(messages)
        lag = MESSAGE_LAG_SECONDS.labels(self._spec.name)
        for envelope in envelopes:
            lag.observe(max(0.0, (started - envelope.time).total_seconds()))
            MESSAGES_CONSUMED.labels(self._spec.name, envelope.type, "handled").inc()

    @staticmethod
    async def _ack(messages: Sequence[AbstractIncomingMessage]) -> None:
        last = messages[-1]
        if all(message.channel is last.channel for message in messages):
            await last.ack(multiple=True)
            return
        for message in messages:
            await message.ack()
