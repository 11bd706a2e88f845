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


async def test_a_refused_web_version_stops_the_login_as_client_too_old(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    service = await start_wa_session(emulator)
    session_id = await new_session()
    await emulator.call("POST", "/refuse", {"code": 405, "count": 10})

    await bus.send(StartSession(session_id=session_id), session_id)
    stopped = await bus.wait_state(session_id, "client_too_old", timeout=30)
    assert stopped["reason"] == "client_too_old"
    assert "reconnecting" not in bus.states(session_id)  # no retry storm into the same refusal
    row = await rows.row(session_id)
    assert not row.desired_running
    await bus.wait_for(session_id, "wa.session.error", lambda p: p["reason"] == "client_too_old")
    metrics = await service.metrics()
    assert 'wa_client_too_old_total{outcome="stopped"} 1.0' in metrics
    assert 'wa_sessions{state="client_too_old"}' in metrics


NEWER_WEB_VERSION = "2.3000.1050000000"


async def test_with_a_version_source_a_raised_minimum_is_met_by_one_retry(
    start_emulator, start_wa_session, bus, new_session
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    # WhatsApp raised its minimum past our built-in version; WhatsApp Web (the emulator's
    # /sw.js, where the setting points) says which version is current.
    await emulator.call(
        "POST",
        "/behaviours",
        {"minVersion": NEWER_WEB_VERSION, "currentVersion": NEWER_WEB_VERSION},
    )
    service = await start_wa_session(
        emulator, WA_BRIDGE_VERSION_URL=f"{emulator.control_url}/sw.js"
    )
    session_id = await new_session()

    await bus.send(StartSession(session_id=session_id), session_id)
    await bus.wait_for(session_id, "wa.session.qr", timeout=30)
    assert "client_too_old" not in bus.states(session_id)
    assert 'wa_client_too_old_total{outcome="retried"} 1.0' in await service.metrics()


async def test_a_405_that_a_newer_version_does_not_cure_is_retried_once_only(
    start_emulator, start_wa_session, bus, new_session
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    await emulator.call("POST", "/behaviours", {"currentVersion": NEWER_WEB_VERSION})
    service = await start_wa_session(
        emulator, WA_BRIDGE_VERSION_URL=f"{emulator.control_url}/sw.js"
    )
    session_id = await new_session()
    await emulator.call("POST", "/refuse", {"code": 405, "count": 10})

    await bus.send(StartSession(session_id=session_id), session_id)
    await bus.wait_state(session_id, "client_too_old", timeout=30)
    assert bus.states(session_id).count("starting") == 2  # the first try and one retry
    metrics = await service.metrics()
    assert 'wa_client_too_old_total{outcome="retried"} 1.0' in metrics
    assert 'wa_client_too_old_total{outcome="stopped"} 1.0' in metrics


async def test_a_passkey_prompt_and_a_broken_pairing_code_each_end_only_their_login(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    await start_wa_session(emulator)
    bystander = await new_session()
    await emulator.login(bus, bystander)

    # An account that demands a passkey for new devices: the scan gets no pairing.
    await emulator.call("POST", "/behaviours", {"passkeyPrompt": True})
    passkey = await new_session()
    await bus.send(StartSession(session_id=passkey), passkey)
    qr = (await bus.wait_for(passkey, "wa.session.qr"))["qr"]
    status, _ = await emulator.call("POST", "/scan", {"qr": qr})
    assert status in (403, 409)  # a first scan may meet the refresh before the prompt
    if status == 409:
        refreshed = await bus.wait_for(passkey, "wa.session.qr", lambda p: p["refresh"])
        assert (await emulator.call("POST", "/scan", {"qr": refreshed["qr"]}))[0] == 403
    error = await bus.wait_for(passkey, "wa.session.error", timeout=20)
    assert error["reason"] == "passkey_required"
    await emulator.call("POST", "/behaviours", {"passkeyPrompt": False})

    # A pairing code whose primary_hello lacks the phone's identity key.
    await emulator.call("POST", "/behaviours", {"linkCodeWithoutIdentity": True})
    coded = await new_session()
    await bus.send(StartSession(session_id=coded, pairing_phone="79991230000"), coded)
    code = (await bus.wait_for(coded, "wa.session.pairing_code"))["code"]
    await emulator.call("POST", "/pairing-code", {"code": code, "phone": "79991230000"})
    error = await bus.wait_for(coded, "wa.session.error", timeout=20)
    assert error["reason"] == "pairing_code_failed"

    for ended in (passkey, coded):
        row = await rows.row(ended)
        assert row.state == "failed" and not row.desired_running
    assert (await rows.row(bystander)).state == "connected"
    assert bus.states(bystander)[-1] == "connected"
