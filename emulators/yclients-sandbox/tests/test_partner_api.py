"""The partner API as our activation service meets it: auth, envelope, window, state changes."""

from __future__ import annotations

import aiohttp
import pytest

pytestmark = pytest.mark.asyncio

INSTALL = "/marketplace/partner/callback"
ALREADY = "Пользователь уже установил это приложение."


async def post(http, sandbox, path, body, **kwargs):
    async with http.post(f"{sandbox.url}{path}", json=body, **kwargs) as response:
        return response.status, await response.json()


async def test_install_after_consent_activates_the_salon(sandbox, http, body_for):
    await sandbox.control.consent([101])

    status, answer = await post(http, sandbox, INSTALL, body_for(101))

    assert status == 201
    assert answer["success"] is True
    assert answer["data"]["status"] == "active"
    salon = await sandbox.control.salon(101)
    assert salon["status"] == "active"
    assert salon["api_key"] == "api-key-101"
    assert salon["webhook_urls"] == body_for(101)["webhook_urls"]
    assert salon["channels"] == {"whatsapp": True}
    [call] = await sandbox.control.calls(INSTALL)
    assert call["status"] == 201
    assert call["body"] == body_for(101)
    assert call["headers"]["Accept"] == "application/vnd.yclients.v2+json"
    assert call["headers"]["Authorization"].startswith("Bearer sha256:")
    assert sandbox.config.partner_token not in call["headers"]["Authorization"]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic abc"])
async def test_install_without_the_partner_token_is_401(sandbox, http, body_for, authorization):
    await sandbox.control.consent([101])
    headers = {"Authorization": authorization} if authorization else {"Authorization": ""}

    status, answer = await post(http, sandbox, INSTALL, body_for(101), headers=headers)

    assert status == 401
    assert answer["success"] is False
    assert answer["data"] is None
    assert answer["meta"]["message"]
    assert (await sandbox.control.salon(101))["status"] == "pending"


async def test_install_accepts_a_user_token_after_the_partner_token(sandbox, http, body_for):
    await sandbox.control.consent([101])
    headers = {"Authorization": f"Bearer {sandbox.config.partner_token}, User u-token"}

    status, _ = await post(http, sandbox, INSTALL, body_for(101), headers=headers)

    assert status == 201


async def test_install_for_another_application_is_403(sandbox, http, body_for):
    await sandbox.control.consent([101])

    status, answer = await post(http, sandbox, INSTALL, {**body_for(101), "application_id": 46})

    assert status == 403
    assert answer["success"] is False


async def test_invalid_body_is_422_with_errors_per_field(sandbox, http):
    status, answer = await post(
        http, sandbox, INSTALL, {"application_id": "x", "webhook_urls": "not-a-list"}
    )

    assert status == 422
    assert answer["success"] is False
    assert answer["data"] is None
    assert set(answer["meta"]["errors"]) == {"salon_id", "application_id", "webhook_urls"}


async def test_second_install_is_already_installed(sandbox, http, body_for):
    await sandbox.control.consent([101])
    assert (await post(http, sandbox, INSTALL, body_for(101)))[0] == 201

    status, answer = await post(http, sandbox, INSTALL, body_for(101))

    assert status == 422
    assert answer["meta"]["message"] == ALREADY
    assert [call["status"] for call in await sandbox.control.calls()] == [201, 422]


async def test_install_without_consent_is_422(sandbox, http, body_for):
    status, answer = await post(http, sandbox, INSTALL, body_for(102))

    assert status == 422
    assert "не запрашивал" in answer["meta"]["message"]


async def test_install_of_an_unknown_salon_is_422(sandbox, http, body_for):
    status, answer = await post(http, sandbox, INSTALL, body_for(999))

    assert status == 422
    assert "salon_id" in answer["meta"]["errors"]


async def test_install_inside_the_window_works(sandbox, http, body_for):
    await sandbox.control.consent([101])
    await sandbox.control.advance_clock(3590)

    assert (await post(http, sandbox, INSTALL, body_for(101)))[0] == 201


async def test_install_past_the_one_hour_window_is_refused(sandbox, http, body_for):
    await sandbox.control.consent([101])
    await sandbox.control.advance_clock(3601)

    status, answer = await post(http, sandbox, INSTALL, body_for(101))

    assert status == 422
    assert "Истекло время на подключение" in answer["meta"]["message"]
    assert (await sandbox.control.salon(101))["status"] == "pending"

    await sandbox.control.consent([101])  # the admin clicks "Подключить" again
    assert (await post(http, sandbox, INSTALL, body_for(101)))[0] == 201


async def test_redirect_variant_installs_and_answers_301_to_a_yclients_page(
    sandbox, http, body_for
):
    await sandbox.control.consent([101])

    async with http.post(
        f"{sandbox.url}{INSTALL}/redirect", json=body_for(101), allow_redirects=False
    ) as response:
        assert response.status == 301
        location = response.headers["Location"]
    async with http.get(location) as page:
        assert page.content_type == "text/html"
    assert (await sandbox.control.salon(101))["status"] == "active"


async def test_application_status_is_404_until_installed_then_shows_logs(sandbox, http, body_for):
    path = f"{sandbox.url}/marketplace/salon/101/application/45"
    async with http.get(path) as response:
        assert response.status == 404
        assert (await response.json())["success"] is False

    await sandbox.control.consent([101])
    await post(http, sandbox, INSTALL, body_for(101))

    async with http.get(path) as response:
        answer = await response.json()
    assert response.status == 200
    assert answer["data"]["status"] == "active"
    assert [entry["event"] for entry in answer["data"]["logs"]] == ["consent", "install"]


async def test_salons_of_the_application_are_paged(sandbox, http, body_for):
    await sandbox.control.consent([101, 102])
    for salon_id in (101, 102):
        await post(http, sandbox, INSTALL, body_for(salon_id))

    async with http.get(f"{sandbox.url}/marketplace/application/45/salons?page=2&count=1") as r:
        answer = await r.json()

    assert [salon["salon_id"] for salon in answer["data"]] == [102]
    assert answer["meta"]["total_count"] == 2


async def test_update_channel_switches_whatsapp_off_and_on(sandbox, http, body_for):
    await sandbox.control.consent([101])
    await post(http, sandbox, INSTALL, body_for(101))
    body = {"salon_id": 101, "application_id": 45, "channel_slug": "whatsapp"}

    status, _ = await post(
        http, sandbox, "/marketplace/application/update_channel", {**body, "is_available": False}
    )
    assert status == 200
    assert (await sandbox.control.salon(101))["channels"] == {"whatsapp": False}

    await post(
        http, sandbox, "/marketplace/application/update_channel", {**body, "is_available": True}
    )
    assert (await sandbox.control.salon(101))["channels"] == {"whatsapp": True}


async def test_payment_unfreezes_and_refund_marks_the_payment(sandbox, http, body_for):
    await sandbox.control.consent([101])
    await post(http, sandbox, INSTALL, body_for(101))
    await sandbox.control.send_lifecycle(101, "freeze")
    assert (await sandbox.control.salon(101))["status"] == "freezed"
    payment = {
        "salon_id": 101,
        "application_id": 45,
        "payment_sum": 1990,
        "currency_iso": "RUB",
        "payment_date": "2026-11-24 12:00:00",
        "period_from": "2026-11-24 00:00:00",
        "period_to": "2026-12-24 00:00:00",
    }

    status, answer = await post(http, sandbox, "/marketplace/partner/payment", payment)

    assert status == 200  # YClients documents 200 with data.id
    assert (await sandbox.control.salon(101))["status"] == "active"
    refund = f"/marketplace/partner/payment/refund/{answer['data']['id']}"
    assert (await post(http, sandbox, refund, {}))[0] == 200
    assert (await post(http, sandbox, refund, {}))[0] == 422


async def test_uninstall_sends_the_lifecycle_webhook_and_allows_a_new_install(
    sandbox, http, body_for, receiver
):
    await sandbox.control.consent([101])
    await post(http, sandbox, INSTALL, body_for(101))

    status, _ = await post(http, sandbox, "/marketplace/salon/101/application/45/uninstall", {})

    assert status == 200
    [(path, body)] = await receiver.wait_for(1)
    assert path == "/callback/yclients"
    assert body == {
        "salon_id": 101,
        "application_id": 45,
        "event": "uninstall",
        "partner_token": sandbox.config.partner_token,
    }
    deliveries = await sandbox.control.wait_for_deliveries(
        lambda sent: bool(sent) and sent[0]["outcome"] == "delivered"
    )
    assert [(d["kind"], d["salon_id"]) for d in deliveries] == [("lifecycle", 101)]
    assert (await sandbox.control.salon(101))["status"] == "uninstalled"
    assert (await post(http, sandbox, INSTALL, body_for(101)))[0] == 422  # no consent yet
    await sandbox.control.consent([101])
    assert (await post(http, sandbox, INSTALL, body_for(101)))[0] == 201


@pytest.mark.parametrize("user_agent", [None, ""])
async def test_request_without_user_agent_gets_the_firewall_html(sandbox, body_for, user_agent):
    headers = {"Authorization": f"Bearer {sandbox.config.partner_token}"}
    if user_agent is not None:
        headers["User-Agent"] = user_agent
    async with (
        aiohttp.ClientSession(headers=headers, skip_auto_headers=["User-Agent"]) as bare,
        bare.post(f"{sandbox.url}{INSTALL}", json=body_for(101)) as response,
    ):
        assert response.status == 403
        assert response.content_type == "text/html"
        assert "<html" in await response.text()
    [call] = await sandbox.control.calls()
    assert call["status"] == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/marketplace/partner/callback", {"salon_id": 101, "application_id": 45}),
        ("POST", "/marketplace/partner/callback", []),
        ("POST", "/marketplace/partner/payment", {}),
        ("POST", "/marketplace/partner/payment/refund/77", {}),
        ("GET", "/marketplace/salon/101/application/45", None),
        ("GET", "/marketplace/salon/101/application/46", None),
        ("POST", "/marketplace/salon/101/application/45/uninstall", {}),
        ("GET", "/marketplace/application/45/salons?page=0", None),
        ("GET", "/marketplace/application/45/salons", None),
        ("POST", "/marketplace/application/update_channel", {}),
        ("GET", "/marketplace/partner/unknown", None),
        ("GET", "/marketplace/partner/callback", None),
    ],
)
async def test_every_answer_is_the_envelope(sandbox, http, method, path, body):
    async with http.request(method, f"{sandbox.url}{path}", json=body) as response:
        answer = await response.json()

    assert set(answer) == {"success", "data", "meta"}
    assert answer["success"] is (response.status < 400)
    if not answer["success"]:
        assert answer["data"] is None
        assert isinstance(answer["meta"]["message"], str)
