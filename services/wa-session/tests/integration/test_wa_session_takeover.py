"""Sessions survive their hosts: a restart of wa-session, a crash of the bridge, and the death of
one of two instances, each time resumed from the stored state (no new scan), never with two
sockets on one login."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

from sqlalchemy import update

from shared.bus import connect
from shared.messages import StartSession
from shared.models import WaSession
from testkit.processes import eventually


def bridge_pid(service_pid: int) -> int:
    children = Path(f"/proc/{service_pid}/task/{service_pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


async def exited(process) -> bool:
    return process.popen.poll() is not None


async def reconnected(bus, session_id: str, before: int) -> bool:
    return len(bus.of(session_id, "wa.session.connected")) > before


async def test_restart_of_wa_session_resumes_without_a_new_scan(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    service = await start_wa_session(emulator)
    session_id = await new_session()
    phone = await emulator.login(bus, session_id)
    qr_count = len(bus.of(session_id, "wa.session.qr"))
    connected = len(bus.of(session_id, "wa.session.connected"))

    # SIGTERM to wa-session only, as an orchestrator sends it: it hands over, never logs out.
    os.kill(service.process.popen.pid, signal.SIGTERM)
    await eventually(lambda: exited(service.process), timeout=20)
    assert service.process.popen.returncode == 0
    handed_over = await rows.row(session_id)
    assert handed_over.desired_running and handed_over.state == "reconnecting"
    assert handed_over.lease_expires_at is not None

    await start_wa_session(emulator)
    await eventually(lambda: reconnected(bus, session_id, connected), timeout=20)
    assert len(bus.of(session_id, "wa.session.qr")) == qr_count
    assert (await emulator.state())["maxLiveSocketsPerLogin"][phone] == 1


async def test_a_killed_bridge_is_restarted_and_its_sessions_resumed(
    start_emulator, start_wa_session, bus, new_session
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    service = await start_wa_session(emulator)
    session_id = await new_session()
    phone = await emulator.login(bus, session_id)
    qr_count = len(bus.of(session_id, "wa.session.qr"))
    connected = len(bus.of(session_id, "wa.session.connected"))

    os.kill(bridge_pid(service.process.popen.pid), signal.SIGKILL)

    await eventually(lambda: reconnected(bus, session_id, connected), timeout=20)
    assert len(bus.of(session_id, "wa.session.qr")) == qr_count
    assert (await emulator.state())["maxLiveSocketsPerLogin"][phone] == 1
    assert "wa_bridge_restarts_total 1.0" in await service.metrics()


async def test_kill_9_of_one_instance_moves_its_sessions_to_the_other_within_15_s(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    first = await start_wa_session(emulator, "wa-session-a")
    sessions = [await new_session() for _ in range(3)]
    phones = [await emulator.login(bus, session_id) for session_id in sessions]
    owner_a = (await rows.row(sessions[0])).owner
    second = await start_wa_session(emulator, "wa-session-b")
    connected = {s: len(bus.of(s, "wa.session.connected")) for s in sessions}

    first.process.kill()  # SIGKILL to wa-session and its bridge
    killed_at = time.monotonic()

    async def all_back() -> bool:
        return all([await reconnected(bus, s, connected[s]) for s in sessions])

    await eventually(all_back, timeout=15)
    assert time.monotonic() - killed_at < 15
    for session_id in sessions:
        row = await rows.row(session_id)
        assert row.state == "connected" and row.owner not in (None, owner_a)
    state = await emulator.state()
    assert all(state["maxLiveSocketsPerLogin"][phone] == 1 for phone in phones)
    assert second.process.popen.poll() is None


async def test_a_database_dump_shows_no_plaintext_key_material(
    start_emulator, start_wa_session, bus, new_session, rows, test_env
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    await start_wa_session(emulator)
    session_id = await new_session()
    await emulator.login(bus, session_id)
    assert await rows.auth_rows(session_id) > 5
    # The QR string carries the public keys and the adv secret that creds hold.
    qr = bus.of(session_id, "wa.session.qr")[-1].payload["qr"]
    secrets = qr.split(",")[1:4]  # ref, noise key, identity key, adv secret, platform
    assert len(secrets) == 3

    database = test_env.database_url.replace("postgresql+asyncpg://", "postgresql://")
    pg_dump = await asyncio.create_subprocess_exec(
        "pg_dump", "--data-only", "--inserts", database, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(pg_dump.communicate(), timeout=60)
    assert pg_dump.returncode == 0
    dump = output.decode()
    assert "wa_auth_keys" in dump
    # bytea columns are dumped as hex, so look for both spellings of each value.
    for value in [*secrets, "noiseKey", "advSecretKey", "signedIdentityKey", "registrationId"]:
        assert value not in dump
        assert value.encode().hex() not in dump


async def test_an_owner_that_lost_its_lease_closes_the_socket_at_once(
    start_emulator, start_wa_session, bus, new_session, database
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    await start_wa_session(emulator)
    session_id = await new_session()
    phone = await emulator.login(bus, session_id)

    # Another instance took the session over (a newer epoch): the old owner must let go.
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            update(WaSession)
            .where(WaSession.id == uuid.UUID(session_id))
            .values(owner="another-instance", epoch=WaSession.epoch + 1)
        )
        await uow.commit()

    async def socket_closed() -> bool:
        state = await emulator.state()
        return next(d for d in state["devices"] if d["phone"] == phone)["liveSockets"] == 0

    await eventually(socket_closed, timeout=5)
    # The fenced owner wrote nothing more: the last status is still "connected".
    assert bus.states(session_id)[-1] == "connected"


async def test_a_command_for_no_valid_session_goes_to_the_dead_letter_queue(
    start_emulator, start_wa_session, bus, test_env
):
    emulator = start_emulator()
    await start_wa_session(emulator)
    connection = await connect(test_env.amqp_url)
    channel = await connection.channel()
    dead = await channel.declare_queue("wa-session.commands.dead", passive=True)
    reasons: list[str] = []
    try:
        await bus.send(StartSession(session_id="not-a-uuid"), "not-a-uuid")
        await bus.send(StartSession(session_id=str(uuid.uuid4())), "unknown")

        async def two_dead() -> bool:
            message = await dead.get(fail=False, timeout=2)
            if message is not None:
                await message.ack()
                reasons.append(str(message.headers["x-dead-reason"]))
            return len(reasons) == 2

        await eventually(two_dead, timeout=10)
    finally:
        await connection.close()
    assert any("not a uuid" in r for r in reasons)
    assert any("no connection" in r for r in reasons)


async def test_a_stalled_owner_falls_silent_before_another_instance_takes_its_logins_over(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    stalled = await start_wa_session(emulator, "wa-session-a")
    sessions = [await new_session() for _ in range(3)]
    phones = [await emulator.login(bus, session_id) for session_id in sessions]
    owner_a = (await rows.row(sessions[0])).owner
    await start_wa_session(emulator, "wa-session-b")
    connected = {s: len(bus.of(s, "wa.session.connected")) for s in sessions}

    # The Python process stalls (a long pause, a hung call); its bridge runs on, sockets open.
    os.kill(stalled.process.popen.pid, signal.SIGSTOP)
    try:

        async def all_back() -> bool:
            return all([await reconnected(bus, s, connected[s]) for s in sessions])

        await eventually(all_back, timeout=30)
        for session_id in sessions:
            assert (await rows.row(session_id)).owner not in (None, owner_a)
        state = await emulator.state()
        # The stalled owner's bridge closed each socket by its lease deadline, before the
        # takeover: WhatsApp never saw two sockets on one login.
        for phone in phones:
            assert state["maxLiveSocketsPerLogin"][phone] == 1
    finally:
        os.kill(stalled.process.popen.pid, signal.SIGCONT)
    # Back from its stall, the old owner finds its leases gone and writes nothing.
    await asyncio.sleep(2)
    for session_id in sessions:
        assert (await rows.row(session_id)).state == "connected"
    assert (await emulator.state())["maxLiveSocketsPerLogin"] == {phone: 1 for phone in phones}
