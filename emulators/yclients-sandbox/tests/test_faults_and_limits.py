"""Programmed faults, the rate limit and the control API's reset."""

from __future__ import annotations

import pytest
from yclients_sandbox.testing import SandboxControlError, run_sandbox

pytestmark = pytest.mark.asyncio

INSTALL = "/marketplace/partner/callback"


async def install(http, sandbox, body):
    async with http.post(f"{sandbox.url}{INSTALL}", json=body) as response:
        return response.status, response.headers, await response.json()


async def test_two_500_then_normal_behaviour(sandbox, http, body_for):
    await sandbox.control.consent([101])
    await sandbox.control.program_faults(INSTALL, [{"status": 500}, {"status": 500}])

    answers = [await install(http, sandbox, body_for(101)) for _ in range(4)]

    assert [status for status, _, _ in answers] == [500, 500, 201, 422]
    assert answers[0][2] == {
        "success": False,
        "data": None,
        "meta": {"message": "Внутренняя ошибка сервера."},
    }
    assert answers[3][2]["meta"]["message"] == "Пользователь уже установил это приложение."
    calls = await sandbox.control.calls(INSTALL)
    assert [call["status"] for call in calls] == [500, 500, 201, 422]


async def test_429_and_422_faults_carry_the_envelope(sandbox, http, body_for):
    await sandbox.control.consent([101])
    await sandbox.control.program_faults(
        INSTALL,
        [
            {"status": 429},
            {"status": 422, "message": "Филиал заблокирован.", "errors": {"salon_id": ["x"]}},
        ],
    )

    status, headers, answer = await install(http, sandbox, body_for(101))
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert answer["success"] is False
    status, _, answer = await install(http, sandbox, body_for(101))
    assert status == 422
    assert answer["meta"] == {"message": "Филиал заблокирован.", "errors": {"salon_id": ["x"]}}
    assert (await sandbox.control.salon(101))["status"] == "pending"


async def test_applied_fault_installs_but_loses_the_answer(sandbox, http, body_for):
    await sandbox.control.consent([101])
    await sandbox.control.program_faults(INSTALL, [{"status": 502, "apply": True}])

    assert (await install(http, sandbox, body_for(101)))[0] == 502
    assert (await sandbox.control.salon(101))["status"] == "active"
    status, _, answer = await install(http, sandbox, body_for(101))
    assert status == 422
    assert answer["meta"]["message"] == "Пользователь уже установил это приложение."


async def test_html_fault_imitates_the_firewall(sandbox, http, body_for):
    await sandbox.control.program_faults(INSTALL, [{"status": 503, "html": True}])

    async with http.post(f"{sandbox.url}{INSTALL}", json=body_for(101)) as response:
        assert response.status == 503
        assert response.content_type == "text/html"


async def test_faults_are_per_path(sandbox, http, body_for):
    await sandbox.control.consent([101])
    await sandbox.control.program_faults("/marketplace/partner/payment", [{"status": 500}])

    assert (await install(http, sandbox, body_for(101)))[0] == 201


async def test_rate_limit_is_five_a_second_per_client(http):
    async with run_sandbox(partner_token="partner-token-of-the-tests") as sandbox:
        path = f"{sandbox.url}/marketplace/application/45/salons"
        statuses = []
        for _ in range(6):
            async with http.get(path) as response:
                statuses.append(response.status)
                answer = await response.json()
        assert statuses == [200] * 5 + [429]
        assert answer["success"] is False
        assert answer["data"] is None
        assert answer["meta"]["message"]
        async with http.get(f"{sandbox.url}/__sandbox/salons") as response:
            assert response.status == 200  # the control API is not limited

        await sandbox.control.advance_clock(1.0)
        async with http.get(path) as response:
            assert response.status == 200


async def test_rate_limit_per_minute(http):
    async with run_sandbox(
        partner_token="partner-token-of-the-tests", rate_per_second=0, rate_per_minute=3
    ) as sandbox:
        path = f"{sandbox.url}/marketplace/application/45/salons"
        statuses = []
        for _ in range(4):
            async with http.get(path) as response:
                statuses.append(response.status)
        assert statuses == [200, 200, 200, 429]
        await sandbox.control.advance_clock(61)
        async with http.get(path) as response:
            assert response.status == 200


async def test_reset_forgets_everything(sandbox, http, body_for):
    await sandbox.control.consent([101])
    await install(http, sandbox, body_for(101))
    await sandbox.control.program_faults(INSTALL, [{"status": 500}])
    await sandbox.control.advance_clock(10_000)
    await sandbox.control.send_lifecycle(101, "freeze")

    await sandbox.control.reset()

    assert await sandbox.control.calls() == []
    assert await sandbox.control.deliveries() == []
    assert all(salon["status"] == "not_installed" for salon in await sandbox.control.salons())
    await sandbox.control.consent([101])
    assert (await install(http, sandbox, body_for(101)))[0] == 201


async def test_consent_answers_the_redirect_url(sandbox):
    url = await sandbox.control.consent([101, 102], ids_form="indexed")

    assert url.startswith(sandbox.config.redirect_url + "?salon_ids[0]=101&salon_ids[1]=102&")


async def test_invalid_fault_is_refused_with_400(sandbox):
    with pytest.raises(SandboxControlError) as refused:
        await sandbox.control.program_faults(INSTALL, [{"status": 500, "delay_seconds": "x"}])

    assert refused.value.status == 400
