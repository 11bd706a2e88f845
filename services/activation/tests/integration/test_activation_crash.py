"""kill -9 of activation in the middle of a connection's installs, then a restart."""

from __future__ import annotations

from shared.crypto import hash_api_key
from shared.messages import SessionConnected
from testkit.processes import eventually

INSTALL = "/marketplace/partner/callback"
PHONE = "79161234567"


async def test_kill_9_mid_activation_then_restart_installs_each_salon_exactly_once(
    world, sandbox, start_activation_process
):
    salons = world.salon_ids.take(3)
    # The first install answers at once; the second is applied by YClients but its answer
    # takes long, and activation is killed while it waits.
    await sandbox.control.program_faults(
        INSTALL,
        [
            {"status": 201, "apply": True},
            {"status": 201, "apply": True, "delay_seconds": 4},
        ],
    )
    await sandbox.control.consent(salons)
    connection_id = await world.seed_connection(salons)

    service = await start_activation_process()
    await world.bus.send(SessionConnected(session_id=connection_id, phone=PHONE), connection_id)

    async def second_salon_installed() -> bool:
        return (await sandbox.control.salon(salons[1]))["status"] == "active"

    await eventually(second_salon_installed, timeout=20, interval=0.02)
    service.kill()
    first, second, third = await world.companies(salons)
    assert first.integration_status == "active"
    assert second.integration_status == "activating"
    assert third.integration_status == "pending"

    await start_activation_process()
    await world.bus.wait_for(connection_id, "activation.completed", timeout=30)

    async def one_install_each() -> bool:
        return await world.successful_installs() == dict.fromkeys(salons, 1)

    # The killed call's answer is recorded by the sandbox once its delay is over.
    await eventually(one_install_each, timeout=10)
    rows = await world.companies(salons)
    assert {company.integration_status for company in rows} == {"active"}
    outcomes = {a.company_id: a.outcome for a in await world.attempts(salons)}
    assert outcomes == {
        salons[0]: "installed",
        salons[1]: "already_installed",
        salons[2]: "installed",
    }
    # The key YClients kept is the one whose hash we stored, though it was sent twice.
    installed = await sandbox.control.salon(salons[1])
    assert rows[1].api_key_hash == hash_api_key(installed["api_key"])
