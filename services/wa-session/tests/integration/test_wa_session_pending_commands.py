"""Commands that the lease owner carries out later: a start that arrives while a logout is still
pending, and commands that an instance which does not own the session takes from the queue."""

from __future__ import annotations

import uuid
from typing import Any

import aio_pika
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from shared.messages import LogoutSession, StartSession, StopSession
from shared.models import WaSession
from shared.topology import WA_SESSION_COMMANDS, declare_queue
from testkit.processes import eventually


def device(state: dict[str, Any], phone: str) -> list[dict[str, Any]]:
    return [d for d in state["devices"] if d["phone"] == phone]


async def lock_waiters(database) -> int:
    """Backends of the test database waiting for a lock (read in a transaction of its own)."""
    async with database.unit_of_work() as uow:
        count = await uow.session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(count or 0)


def assert_seqs_consistent(bus, session_id: str) -> None:
    """Every status seq names one state, and none is missing between the first and the last."""
    by_seq: dict[int, str] = {}
    for envelope in bus.of(session_id, "wa.session.status"):
        seq, state = envelope.payload["seq"], envelope.payload["state"]
        assert by_seq.setdefault(seq, state) == state, (seq, state, by_seq[seq])
    assert sorted(by_seq) == list(range(min(by_seq), max(by_seq) + 1)), sorted(by_seq)


async def test_a_start_right_behind_a_logout_logs_out_then_shows_a_new_qr(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    await start_wa_session(emulator)
    session_id = await new_session()
    phone = await emulator.login(bus, session_id)
    old_jids = {d["jid"] for d in device(await emulator.state(), phone)}
    qrs_before = len(bus.of(session_id, "wa.session.qr"))

    # Sent back to back: the commands are handled concurrently, in whatever order, and the start
    # may well be handled first; the outcome is the same either way.
    await bus.send(LogoutSession(session_id=session_id), session_id)
    await bus.send(LogoutSession(session_id=session_id), session_id)  # a duplicate changes nothing
    await bus.send(StartSession(session_id=session_id), session_id)
    await bus.send(StartSession(session_id=session_id), session_id)

    # The old device is logged out (WhatsApp forgets it) and its auth state wiped...
    logged_out = await bus.wait_for(session_id, "wa.session.logged_out", timeout=30)
    assert logged_out["phone"] == phone

    async def old_device_gone() -> bool:
        return all(not d["loggedIn"] for d in device(await emulator.state(), phone))

    await eventually(old_device_gone, timeout=15)

    # ...and a fresh login starts: a new QR, which the same phone scans to link again.
    async def new_qr() -> bool:
        return len(bus.of(session_id, "wa.session.qr")) > qrs_before

    await eventually(new_qr, timeout=30)
    logged_out_seq = next(
        e.payload["seq"]
        for e in bus.of(session_id, "wa.session.status")
        if e.payload["state"] == "logged_out"
    )
    waiting = await bus.wait_for(
        session_id,
        "wa.session.status",
        lambda p: p["state"] == "waiting_for_scan" and p["seq"] > logged_out_seq,
    )
    assert waiting["qr_index"] >= 0

    connected_before = len(bus.of(session_id, "wa.session.connected"))

    async def scan_new_qr() -> dict[str, Any] | None:
        qrs = sorted(bus.of(session_id, "wa.session.qr"), key=lambda e: e.payload["index"])
        status, body = await emulator.call(
            "POST", "/scan", {"qr": qrs[-1].payload["qr"], "phone": phone}
        )
        return dict(body) if status == 200 else None

    await eventually(scan_new_qr, timeout=30, interval=0.3)

    async def connected_again() -> bool:
        return len(bus.of(session_id, "wa.session.connected")) > connected_before

    await eventually(connected_again, timeout=30)
    state = await emulator.state()
    live = [d for d in device(state, phone) if d["loggedIn"]]
    assert len(live) == 1 and live[0]["jid"] not in old_jids
    assert state["maxLiveSocketsPerLogin"][phone] == 1
    row = await rows.row(session_id)
    assert row.state == "connected" and row.desired_running and row.pending_action is None
    assert await rows.auth_rows(session_id) > 0
    states = bus.states(session_id)
    assert states.count("logged_out") == 1, states
    assert len(bus.of(session_id, "wa.session.logged_out")) == 1
    assert_seqs_consistent(bus, session_id)


async def test_commands_taken_by_an_instance_that_does_not_own_the_session_are_applied_by_the_owner(
    start_emulator, start_wa_session, bus, new_session, rows, database, test_env
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    # A takes one command at a time: while one is in its hands, the queue delivers only to B.
    owner = await start_wa_session(emulator, "wa-session-a", AMQP_PREFETCH="1")
    stopped, logged_out = await new_session(), await new_session()
    stopped_phone = await emulator.login(bus, stopped)
    logged_out_phone = await emulator.login(bus, logged_out)
    owner_id = (await rows.row(stopped)).owner
    assert owner_id and owner_id.startswith("wa-session-a")
    assert (await rows.row(logged_out)).owner == owner_id

    # A session row that the test keeps locked: the command for it blocks A's only slot.
    blocker = await new_session()
    async with database.unit_of_work() as uow:
        await uow.session.execute(insert(WaSession).values(id=uuid.UUID(blocker), state="stopped"))
        await uow.commit()
    connection = await aio_pika.connect(test_env.amqp_url)
    try:
        channel = await connection.channel()
        async with database.unit_of_work() as lock:
            await lock.session.execute(
                select(WaSession.id).where(WaSession.id == uuid.UUID(blocker)).with_for_update()
            )
            await bus.send(StopSession(session_id=blocker), blocker)

            async def taken_by_a() -> bool:
                queue = await declare_queue(channel, WA_SESSION_COMMANDS)
                ready = queue.declaration_result.message_count
                return ready == 0 and await lock_waiters(database) == 1

            await eventually(taken_by_a, timeout=10)

            second = await start_wa_session(emulator, "wa-session-b")
            await bus.send(StopSession(session_id=stopped), stopped)
            await bus.send(LogoutSession(session_id=logged_out), logged_out)

            # B records both (A cannot take them); A, the owner, carries them out.
            await bus.wait_state(stopped, "stopped", timeout=15)
            await bus.wait_for(logged_out, "wa.session.logged_out", timeout=15)
            assert await lock_waiters(database) == 1  # A's consumer is still stuck on the blocker
            await lock.session.rollback()
    finally:
        await connection.close()

    state = await emulator.state()
    (kept,) = device(state, stopped_phone)
    assert kept["loggedIn"] and kept["liveSockets"] == 0  # stopped, not logged out
    (gone,) = device(state, logged_out_phone)
    assert not gone["loggedIn"]
    for session_id, final in ((stopped, "stopped"), (logged_out, "logged_out")):
        row = await rows.row(session_id)
        assert row.state == final and row.owner == owner_id
        assert not row.desired_running and row.pending_action is None
        assert bus.states(session_id)[-1] == final
        assert_seqs_consistent(bus, session_id)
    assert await rows.auth_rows(stopped) > 0
    assert await rows.auth_rows(logged_out) == 0
    assert second.process.popen.poll() is None and owner.process.popen.poll() is None
