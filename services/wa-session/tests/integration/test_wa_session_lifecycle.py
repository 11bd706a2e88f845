"""Every way a login ends, with the real bridge and Baileys against the WhatsApp emulator."""

from __future__ import annotations

from shared.messages import LogoutSession, StartSession, StopSession
from testkit.processes import eventually


async def test_login_by_pairing_code(start_emulator, start_wa_session, bus, new_session, rows):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    await start_wa_session(emulator)
    session_id = await new_session()

    await bus.send(StartSession(session_id=session_id, pairing_phone="79991234567"), session_id)
    code = (await bus.wait_for(session_id, "wa.session.pairing_code"))["code"]
    # Typed on the phone whose number the admin gave.
    status, body = await emulator.call(
        "POST", "/pairing-code", {"code": code, "phone": "79991234567"}
    )
    assert status == 200, body

    connected = await bus.wait_for(session_id, "wa.session.connected")
    assert connected["phone"] == "79991234567"
    assert (await rows.row(session_id)).state == "connected"


async def test_qr_expiry_stops_until_asked_again(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--refs", "2", "--qr-timeout-ms", "3000")
    await start_wa_session(emulator)
    session_id = await new_session()

    await bus.send(StartSession(session_id=session_id), session_id)
    expired = await bus.wait_state(session_id, "qr_expired", timeout=30)
    assert expired["reason"] == "qr_expired"
    row = await rows.row(session_id)
    assert row.state == "qr_expired" and not row.desired_running
    qr_count = len(bus.of(session_id, "wa.session.qr"))
    assert qr_count == 2

    # Asked again: a fresh login with new QR codes, which the phone can scan.
    scanned_after = len(bus.of(session_id, "wa.session.qr"))
    await bus.send(StartSession(session_id=session_id), session_id)
    await eventually(lambda: _true(len(bus.of(session_id, "wa.session.qr")) > scanned_after))
    scanned = await emulator.scan_latest_qr(bus, session_id)
    connected = await bus.wait_for(session_id, "wa.session.connected")
    assert connected["phone"] == scanned["phone"]


async def test_logout_from_the_phone_wipes_the_state(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    await start_wa_session(emulator)
    session_id = await new_session()
    phone = await emulator.login(bus, session_id)
    assert await rows.auth_rows(session_id) > 0

    await emulator.call("POST", "/logout", {"phone": phone})
    logged_out = await bus.wait_for(session_id, "wa.session.logged_out")
    assert logged_out["phone"] == phone
    await bus.wait_state(session_id, "logged_out")
    assert await rows.auth_rows(session_id) == 0
    assert not (await rows.row(session_id)).desired_running


async def test_conflict_is_never_fought(start_emulator, start_wa_session, bus, new_session, rows):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    await start_wa_session(emulator)
    session_id = await new_session()
    phone = await emulator.login(bus, session_id)

    await emulator.call("POST", "/conflict", {"phone": phone})
    replaced = await bus.wait_state(session_id, "replaced")
    assert replaced["reason"] == "replaced"
    # No reconnect storm: the session will not run again until asked, no socket is left, and
    # there never were two at once.
    row = await rows.row(session_id)
    assert row.state == "replaced" and not row.desired_running
    assert bus.states(session_id)[-1] == "replaced"
    state = await emulator.state()
    device = next(d for d in state["devices"] if d["phone"] == phone)
    assert device["liveSockets"] == 0
    assert state["maxLiveSocketsPerLogin"][phone] == 1
    assert await rows.auth_rows(session_id) > 0  # replaced is not logged out


async def test_stop_then_start_resumes_without_a_new_scan(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    await start_wa_session(emulator)
    session_id = await new_session()
    await emulator.login(bus, session_id)
    qr_count = len(bus.of(session_id, "wa.session.qr"))

    await bus.send(StopSession(session_id=session_id), session_id)
    await bus.send(StopSession(session_id=session_id), session_id)  # idempotent
    await bus.wait_state(session_id, "stopped")
    assert not (await rows.row(session_id)).desired_running

    connected_before = len(bus.of(session_id, "wa.session.connected"))
    await bus.send(StartSession(session_id=session_id), session_id)
    await eventually(
        lambda: _true(len(bus.of(session_id, "wa.session.connected")) > connected_before)
    )
    assert len(bus.of(session_id, "wa.session.qr")) == qr_count


async def test_logout_command_logs_out_and_wipes(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    await start_wa_session(emulator)
    session_id = await new_session()
    phone = await emulator.login(bus, session_id)

    await bus.send(LogoutSession(session_id=session_id), session_id)
    await bus.send(LogoutSession(session_id=session_id), session_id)  # idempotent
    await bus.wait_for(session_id, "wa.session.logged_out")
    assert await rows.auth_rows(session_id) == 0
    device = next(d for d in (await emulator.state())["devices"] if d["phone"] == phone)
    assert not device["loggedIn"]
    assert bus.states(session_id).count("logged_out") == 1


async def _true(value: bool) -> bool:
    return value


async def test_a_dropped_connection_backs_off_and_reconnects(
    start_emulator, start_wa_session, bus, new_session
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    service = await start_wa_session(emulator)
    session_id = await new_session()
    phone = await emulator.login(bus, session_id)
    connected = len(bus.of(session_id, "wa.session.connected"))

    await emulator.call("POST", "/drop", {"phone": phone})
    reconnecting = await bus.wait_state(session_id, "reconnecting")
    assert reconnecting["reason"] == "connection_closed"
    assert 0.8 <= reconnecting["retry_in_seconds"] <= 1.2
    await eventually(
        lambda: _true(len(bus.of(session_id, "wa.session.connected")) > connected), timeout=20
    )
    metrics = await service.metrics()
    assert 'wa_reconnects_total{reason="connection_closed"} 1.0' in metrics
    assert 'wa_sessions{state="connected"} 1.0' in metrics


async def test_refusals_with_405_are_retried_then_failed(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    await start_wa_session(emulator)
    session_id = await new_session()
    await emulator.call("POST", "/refuse", {"code": 405, "count": 10})

    await bus.send(StartSession(session_id=session_id), session_id)
    failed = await bus.wait_state(session_id, "failed", timeout=30)
    assert failed["reason"].startswith("client_outdated (405)")
    states = bus.states(session_id)
    assert states.count("reconnecting") == 3
    row = await rows.row(session_id)
    assert not row.desired_running
    await bus.wait_for(session_id, "wa.session.error", lambda p: p["reason"] == "client_outdated")
