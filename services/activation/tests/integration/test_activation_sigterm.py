"""SIGTERM to activation in the middle of a stream of connections: the stopping instance finishes
the connections it has in hand and exits 0, the next one takes the rest, and every salon is
installed in YClients exactly once."""

from __future__ import annotations

from collections import Counter

from shared.messages import SessionConnected
from shared.topology import ACTIVATION_INBOX
from testkit.processes import eventually
from testkit.queues import peek_bodies

INSTALL = "/marketplace/partner/callback"
PHONE = "79161234567"
CONNECTIONS = 30
TERMINATE_AFTER_INSTALLS = 12
# Consumer.stop waits this long (SHUTDOWN_GRACE_SECONDS' default) for the messages in hand.
GRACE_SECONDS = 10.0


async def test_sigterm_mid_stream_finishes_what_it_holds_and_the_next_instance_does_the_rest(
    world, sandbox, test_env, start_activation_process
):
    # One to three salons per connection: 60 salons, 15 s of installs at activation's 4/s.
    salons_of = {}
    for n in range(CONNECTIONS):
        salons = world.salon_ids.take(1 + n % 3)
        await sandbox.control.consent(salons)
        salons_of[await world.seed_connection(salons)] = salons
    all_salons = [salon for salons in salons_of.values() for salon in salons]
    # The first installs take a while to answer, so that calls are in flight at the SIGTERM.
    await sandbox.control.program_faults(
        INSTALL, [{"status": 201, "apply": True, "delay_seconds": 0.5}] * 24
    )

    first = await start_activation_process()
    for connection_id in salons_of:
        await world.bus.send(SessionConnected(session_id=connection_id, phone=PHONE), connection_id)

    async def some_installed() -> bool:
        return sum((await world.successful_installs()).values()) >= TERMINATE_AFTER_INSTALLS

    await eventually(some_installed, timeout=30, interval=0.05)
    assert first.process is not None
    code, seconds = await first.process.terminate(timeout=GRACE_SECONDS + 20)
    logs = first.process.logs()[-3000:]
    assert code == 0, logs
    assert seconds < GRACE_SECONDS + 5, logs

    # What it took in hand it finished: no salon is left half-way, no connection part-done.
    statuses = {
        company.id: company.integration_status for company in await world.companies(all_salons)
    }
    assert "activating" not in statuses.values(), logs
    for connection_id, salons in salons_of.items():
        assert len({statuses[salon] for salon in salons}) == 1, (connection_id, statuses)
    done_by_first = {cid for cid in salons_of if world.bus.of(cid, "activation.completed")}
    assert 0 < len(done_by_first) < CONNECTIONS, "the SIGTERM came before or after the stream"

    await start_activation_process()

    async def all_completed() -> bool:
        return all(world.bus.of(cid, "activation.completed") for cid in salons_of)

    await eventually(all_completed, timeout=40, interval=0.2)
    assert await world.successful_installs() == dict.fromkeys(all_salons, 1)
    assert {company.integration_status for company in await world.companies(all_salons)} == {
        "active"
    }
    outcomes = Counter(attempt.outcome for attempt in await world.attempts(all_salons))
    assert outcomes == {"installed": len(all_salons)}
    completions = Counter(
        envelope.correlation_id
        for envelope in world.bus.received
        if envelope.type == "activation.completed" and envelope.correlation_id in salons_of
    )
    assert set(completions.values()) == {1}
    dead = await peek_bodies(test_env.amqp_url, ACTIVATION_INBOX.dead_queue)
    assert [body for body in dead if any(cid.encode() in body for cid in salons_of)] == []
