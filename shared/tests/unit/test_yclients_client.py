"""The YClients client against the YClients sandbox (served in the test's event loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from yclients_sandbox.testing import RunningSandbox, run_sandbox

from shared.yclients import (
    USER_AGENT,
    AlreadyInstalled,
    Forbidden,
    RateLimiter,
    Retry,
    Unauthorized,
    Unavailable,
    UnexpectedAnswer,
    ValidationFailed,
    YClientsClient,
)
from testkit.processes import free_port

TOKEN = "client-test-partner-token-7f3a9c2e"
INSTALL = "/marketplace/partner/callback"
FAST_RETRY = Retry(attempts=4, base_delay=0.01, max_delay=0.05)


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with run_sandbox(partner_token=TOKEN, port=0) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client_for(
    http: aiohttp.ClientSession, url: str, token: str = TOKEN, per_second: float = 100.0
) -> YClientsClient:
    return YClientsClient(
        http,
        base_url=url,
        partner_token=token,
        application_id=45,
        limiter=RateLimiter(per_second),
        retry=FAST_RETRY,
    )


async def install(client: YClientsClient, salon_id: int = 101) -> object:
    return await client.install(
        salon_id, "key-1", [f"https://hooks.example/{salon_id}"], ["whatsapp"]
    )


async def test_install_sends_the_contract_headers_and_body(sandbox, http):
    await sandbox.control.consent([101])
    data = await install(client_for(http, sandbox.url))
    assert isinstance(data, dict)
    assert data["status"] == "active"
    [call] = await sandbox.control.calls(INSTALL)
    assert call["status"] == 201
    assert call["headers"]["Accept"] == "application/vnd.yclients.v2+json"
    assert call["headers"]["Content-Type"] == "application/json"
    assert call["headers"]["User-Agent"] == USER_AGENT
    assert call["headers"]["Authorization"].startswith("Bearer sha256:")
    assert call["body"] == {
        "salon_id": 101,
        "application_id": 45,
        "api_key": "key-1",
        "webhook_urls": ["https://hooks.example/101"],
        "channels": ["whatsapp"],
    }


async def test_a_second_install_is_reported_as_already_installed(sandbox, http):
    client = client_for(http, sandbox.url)
    await sandbox.control.consent([101])
    await install(client)
    with pytest.raises(AlreadyInstalled):
        await install(client)


async def test_install_without_consent_is_a_validation_error_with_yclients_message(sandbox, http):
    with pytest.raises(ValidationFailed) as caught:
        await install(client_for(http, sandbox.url))
    assert caught.value.status == 422
    assert "не запрашивал" in caught.value.message


async def test_500_twice_then_success_is_one_install(sandbox, http):
    await sandbox.control.consent([101])
    await sandbox.control.program_faults(INSTALL, [{"status": 500}, {"status": 500}])
    await install(client_for(http, sandbox.url))
    assert [call["status"] for call in await sandbox.control.calls(INSTALL)] == [500, 500, 201]


async def test_429_is_retried(sandbox, http):
    await sandbox.control.consent([101])
    await sandbox.control.program_faults(INSTALL, [{"status": 429}])
    await install(client_for(http, sandbox.url))
    assert [call["status"] for call in await sandbox.control.calls(INSTALL)] == [429, 201]


async def test_a_lost_answer_after_the_install_is_retried_into_already_installed(sandbox, http):
    await sandbox.control.consent([101])
    await sandbox.control.program_faults(INSTALL, [{"status": 502, "apply": True}])
    with pytest.raises(AlreadyInstalled):
        await install(client_for(http, sandbox.url))
    statuses = [call["status"] for call in await sandbox.control.calls(INSTALL)]
    assert statuses == [502, 422]


async def test_422_is_not_retried_and_carries_the_message(sandbox, http):
    await sandbox.control.consent([101])
    await sandbox.control.program_faults(
        INSTALL, [{"status": 422, "message": "Филиал заблокирован."}]
    )
    with pytest.raises(ValidationFailed) as caught:
        await install(client_for(http, sandbox.url))
    assert caught.value.message == "Филиал заблокирован."
    assert len(await sandbox.control.calls(INSTALL)) == 1


async def test_a_firewall_html_page_is_never_read_as_the_answer(sandbox, http):
    await sandbox.control.consent([101])
    await sandbox.control.program_faults(INSTALL, [{"status": 403, "html": True}])
    with pytest.raises(Forbidden) as caught:
        await install(client_for(http, sandbox.url))
    assert "text/html" in caught.value.message


async def test_html_503_pages_are_retried_then_reported_unavailable(sandbox, http):
    await sandbox.control.program_faults(INSTALL, [{"status": 503, "html": True}] * 4)
    with pytest.raises(Unavailable):
        await install(client_for(http, sandbox.url))
    assert len(await sandbox.control.calls(INSTALL)) == FAST_RETRY.attempts


async def test_a_redirect_is_not_followed(sandbox, http):
    await sandbox.control.consent([101])
    await sandbox.control.program_faults(INSTALL, [{"status": 302}])
    with pytest.raises(UnexpectedAnswer):
        await install(client_for(http, sandbox.url))
    assert len(await sandbox.control.calls()) == 1


async def test_a_wrong_partner_token_is_unauthorized(sandbox, http):
    with pytest.raises(Unauthorized):
        await install(client_for(http, sandbox.url, token="another-partner-token-123456"))


async def test_network_errors_are_retried_then_unavailable(http):
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    client = YClientsClient(
        http,
        base_url=f"http://127.0.0.1:{free_port()}",
        partner_token=TOKEN,
        application_id=45,
        limiter=RateLimiter(100),
        retry=Retry(attempts=3, base_delay=1.0, max_delay=4.0),
        sleep=sleep,
    )
    with pytest.raises(Unavailable):
        await client.application_status(101)
    assert len(slept) == 2
    assert 0 <= slept[0] <= 1.0
    assert 0 <= slept[1] <= 2.0


async def test_status_channel_payment_and_uninstall(sandbox, http):
    client = client_for(http, sandbox.url, per_second=4.0)
    assert await client.application_status(101) is None
    await sandbox.control.consent([101])
    await install(client)
    status = await client.application_status(101)
    assert status is not None
    assert status["status"] == "active"
    await client.update_channel(101, "whatsapp", False)
    assert (await sandbox.control.salon(101))["channels"] == {"whatsapp": False}
    payment_id = await client.payment(101, 990.0, "RUB", "2026-11-24", "2026-11-24", "2026-12-24")
    assert payment_id == 1
    await client.uninstall(101)
    assert (await sandbox.control.salon(101))["status"] == "uninstalled"
    assert await client.application_status(101) is None


async def test_the_rate_limiter_keeps_a_burst_under_the_sandbox_limit(sandbox, http):
    client = client_for(http, sandbox.url, per_second=4.0)
    for _ in range(7):
        assert await client.application_status(101) is None
    statuses = [call["status"] for call in await sandbox.control.calls()]
    assert statuses == [404] * 7


def test_the_token_bucket_paces_calls():
    now = [0.0]
    limiter = RateLimiter(per_second=5.0, burst=2, clock=lambda: now[0])
    waits = [limiter.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.0, 0.2, 0.4])
    now[0] = 10.0  # idle long enough: the bucket is full again
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(0.2)
