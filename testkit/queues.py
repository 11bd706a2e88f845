"""Looking into RabbitMQ queues from tests without taking anything out of them."""

from __future__ import annotations

import aio_pika


async def peek_bodies(amqp_url: str, queue_name: str) -> list[bytes]:
    """The body of every message in the queue, read without acking: closing the channel puts
    them all back."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        bodies = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            bodies.append(message.body)
    return bodies
