"""``aiadmin-ops``: the operator's command line.

    aiadmin-ops connections            connections, their salons and WhatsApp session state
    aiadmin-ops sessions               WhatsApp sessions with their owner and lease
    aiadmin-ops dead                   how many messages wait in each dead-letter queue
    aiadmin-ops redrive QUEUE [--limit N]   move dead-lettered messages back into QUEUE
    aiadmin-ops logout SESSION_ID      force a WhatsApp session to log out

It reads DATABASE_URL and AMQP_URL like the services do.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import aio_pika
from sqlalchemy import select

from shared.bus import Publisher, connect
from shared.db import Database
from shared.messages import LogoutSession
from shared.models import Company, Connection, WaSession
from shared.settings import CommonSettings, load_settings
from shared.topology import ALL_QUEUES, declare_queue


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [list(map(str, header))] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells
    )


async def list_connections(database: Database) -> str:
    async with database.unit_of_work() as uow:
        rows = (
            await uow.session.execute(
                select(
                    Connection.id,
                    Connection.status,
                    Connection.consented_at,
                    WaSession.state,
                    Company.id,
                    Company.integration_status,
                )
                .outerjoin(WaSession, WaSession.id == Connection.id)
                .outerjoin(Company, Company.connection_id == Connection.id)
                .order_by(Connection.created_at.desc())
            )
        ).all()
    return _table(
        [
            (conn, status, consented.isoformat(timespec="seconds"), state, salon, integration)
            for conn, status, consented, state, salon, integration in rows
        ],
        ("connection", "status", "consented", "whatsapp", "salon", "integration"),
    )


async def list_sessions(database: Database) -> str:
    async with database.unit_of_work() as uow:
        rows = (
            await uow.session.execute(
                select(
                    WaSession.id,
                    WaSession.state,
                    WaSession.phone,
                    WaSession.owner,
                    WaSession.epoch,
                    WaSession.lease_expires_at,
                    WaSession.reason,
                ).order_by(WaSession.updated_at)
            )
        ).all()
    return _table(
        [tuple(row) for row in rows],
        ("session", "state", "phone", "owner", "epoch", "lease until", "reason"),
    )


async def dead_counts(amqp_url: str) -> str:
    connection = await connect(amqp_url)
    try:
        channel = await connection.channel()
        rows = []
        for spec in ALL_QUEUES:
            await declare_queue(channel, spec)
            dead = await channel.declare_queue(spec.dead_queue, passive=True)
            rows.append((spec.dead_queue, dead.declaration_result.message_count))
        return _table(rows, ("dead-letter queue", "messages"))
    finally:
        await connection.close()


async def redrive(amqp_url: str, queue_name: str, limit: int) -> str:
    """Move messages from ``<queue>.dead`` back into the queue, publishing before acking."""
    connection = await connect(amqp_url)
    try:
        publisher = await Publisher.open(connection)
        channel = await connection.channel()
        dead = await channel.declare_queue(f"{queue_name}.dead", passive=True)
        moved = 0
        while moved < limit:
            message = await dead.get(fail=False, no_ack=False)
            if message is None:
                break
            headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
            await publisher.publish_message(
                "",
                aio_pika.Message(
                    body=message.body,
                    headers=headers,
                    content_type=message.content_type,
                    message_id=message.message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                queue_name,
            )
            await message.ack()
            moved += 1
        return f"moved {moved} message(s) from {queue_name}.dead to {queue_name}"
    finally:
        await connection.close()


async def force_logout(amqp_url: str, session_id: str) -> str:
    connection = await connect(amqp_url)
    try:
        publisher = await Publisher.open(connection)
        await publisher.send(LogoutSession(session_id=session_id, reason="operator"), session_id)
        return f"logout requested for {session_id}"
    finally:
        await connection.close()


async def run(args: argparse.Namespace, settings: CommonSettings) -> str:
    if args.command in ("connections", "sessions"):
        database = Database(settings.database_url, pool_size=1)
        try:
            lister = list_connections if args.command == "connections" else list_sessions
            return await lister(database)
        finally:
            await database.dispose()
    if args.command == "dead":
        return await dead_counts(settings.amqp_url)
    if args.command == "redrive":
        return await redrive(settings.amqp_url, args.queue, args.limit)
    return await force_logout(settings.amqp_url, args.session_id)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="aiadmin-ops", description=__doc__.split("\n")[0])
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("connections", help="connections with their salons and WhatsApp state")
    commands.add_parser("sessions", help="WhatsApp sessions, owners and leases")
    commands.add_parser("dead", help="messages waiting in dead-letter queues")
    redrive_cmd = commands.add_parser("redrive", help="move dead-lettered messages back")
    redrive_cmd.add_argument("queue", help="e.g. " + ", ".join(spec.name for spec in ALL_QUEUES))
    redrive_cmd.add_argument("--limit", type=int, default=1000)
    logout_cmd = commands.add_parser("logout", help="force a WhatsApp session to log out")
    logout_cmd.add_argument("session_id")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings(CommonSettings)
    print(asyncio.run(run(args, settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
