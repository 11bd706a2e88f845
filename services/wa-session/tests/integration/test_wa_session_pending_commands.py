"""Commands that the lease owner carries out later: a start that arrives while a logout is still
pending."""

from __future__ import annotations

from typing import Any

from shared.messages import LogoutSession, StartSession
from testkit.processes import eventually


def device(state: dict[str, Any], phone: str) -> list[dict[str, Any]]:
    return [d for d in state["devices"] if d["phone"] == phone]


def assert_seqs_consistent(bus, session_id: str) -> None:
    """Every status seq names one state, and none is missing between the first and the last."""
    by_seq: dict[int, str] = {}
    for envelope in bus.of(session_id, "wa.session.status"):
        seq, state = envelope.payload["seq"], envelope.payload["state"]
        assert by_seq.setdefault(seq, state) == state, (seq, state, by_seq[seq])
    assert sorted(by_seq) == list(range(min(by_seq), max(by_seq) + 1)), sorted(by_seq)


async def test_a_start_while_a_logout_is_pending_logs_out_then_shows_a_new_qr(
    start_emulator, start_wa_session, bus, new_session, rows
):
    emulator = start_emulator("--qr-timeout-ms", "3000")
    # A slow lease poll keeps the logout pending (recorded, not yet carried out) long enough for
    # the start to arrive before the owner acts on it.
    await start_wa_session(emulator, WA_LEASE_POLL_SECONDS="3")
    session_id = await new_session()
    phone = await emulator.login(bus, session_id)
    old_jids = {d["jid"] for d in device(await emulator.state(), phone)}
    qrs_before = len(bus.of(session_id, "wa.session.qr"))

    await bus.send(LogoutSession(session_id=session_id), session_id)
    await bus.send(LogoutSession(session_id=session_id), session_id)  # a duplicate changes nothing

    async def logout_pending() -> bool:
        row = await rows.row(session_id)
        return row.pending_action == "logout"

    await eventually(logout_pending, timeout=10, interval=0.05)
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
    assert states.count("logged_out") == 1
    assert len(bus.of(session_id, "wa.session.logged_out")) == 1
    assert_seqs_consistent(bus, session_id)
