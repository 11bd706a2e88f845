"""First login by QR: rotation, the phone scans, 515 restart, connected with the phone number."""

from __future__ import annotations

from shared.messages import StartSession


async def test_first_login_by_qr_rotates_restarts_after_515_and_connects(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--refs", "6", "--qr-timeout-ms", "3000")
    service = await start_wa_session(emulator)
    session_id = await new_session()

    await bus.send(StartSession(session_id=session_id), session_id)
    # The page shows QR codes one after another until the phone scans one.
    await bus.wait_for(session_id, "wa.session.qr", lambda p: p["index"] >= 2, timeout=30)
    scanned = await emulator.scan_latest_qr(bus, session_id)

    connected = await bus.wait_for(session_id, "wa.session.connected", timeout=30)
    assert connected["phone"] == scanned["phone"]
    states = bus.states(session_id)
    assert states[0] == "starting"
    assert states.count("waiting_for_scan") >= 2
    assert states[-1] == "connected"
    # paired, then WhatsApp's 515 restart, then a login with the new creds.
    tail = [s for s in states if s != "waiting_for_scan"]
    assert tail[-4:] == ["paired", "restarting", "starting", "connected"]
    seqs = [e.payload["seq"] for e in bus.of(session_id, "wa.session.status")]
    assert sorted(seqs) == list(range(1, len(seqs) + 1))

    row = await rows.row(session_id)
    assert row.state == "connected" and row.phone == scanned["phone"]
    assert await rows.auth_rows(session_id) > 1
    assert (await emulator.state())["maxLiveSocketsPerLogin"] == {scanned["phone"]: 1}
    assert "wa_qr_issued_total" in await service.metrics()
