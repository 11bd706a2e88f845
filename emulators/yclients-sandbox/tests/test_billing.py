"""Billing with YClients' semantics: payments read back, refunds, trial, payment link,
discounts; the uninstall event after its answer; the installed salons paged."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from yclients_sandbox.testing import run_sandbox

pytestmark = pytest.mark.asyncio

PAYMENT = "/marketplace/partner/payment"
STATUS = "/marketplace/salon/{salon_id}/application/45"
LINK = "/marketplace/application/payment_link"
TARIFFS = [{"title": "Месяц", "price": 1990}, {"title": "Год", "price": 19900, "months": 12}]


def payment_body(salon_id=101, payment_sum=1990):
    return {
        "salon_id": salon_id,
        "application_id": 45,
        "payment_sum": payment_sum,
        "currency_iso": "RUB",
        "payment_date": "2026-11-24 12:00:00",
        "period_from": "2026-11-24 00:00:00",
        "period_to": "2026-12-24 00:00:00",
    }


async def call(http, sandbox, method, path, body=None, **kwargs):
    async with http.request(method, f"{sandbox.url}{path}", json=body, **kwargs) as response:
        return response.status, await response.json()


async def status_of(http, sandbox, salon_id=101):
    status, answer = await call(http, sandbox, "GET", STATUS.format(salon_id=salon_id))
    assert status == 200, answer
    return answer["data"]


async def test_payments_appear_in_the_application_status(sandbox, http, install_salon):
    await install_salon(101)

    status, answer = await call(http, sandbox, "POST", PAYMENT, payment_body())

    assert status == 200
    payment_id = answer["data"]["id"]
    data = await status_of(http, sandbox)
    assert data["connection_status"]["status"] == "active"
    assert data["connection_status"]["created_at"]
    assert data["payments"] == [
        {
            "id": payment_id,
            "salon_id": 101,
            "payment_sum": 1990,
            "currency_iso": "RUB",
            "payment_date": "2026-11-24 12:00:00",
            "period_from": "2026-11-24 00:00:00",
            "period_to": "2026-12-24 00:00:00",
            "is_refunded": False,
            "refunded_at": None,
            "source": "partner_api",
        }
    ]
    assert [(log["status_from"], log["status_to"], log["source"]) for log in data["logs"]] == [
        ("not_installed", "pending", "marketplace"),
        ("pending", "active", "partner_api"),
        ("active", "active", "partner_api"),
    ]
    assert all(len(log["changed_at"]) == len("2022-06-27 12:20:02") for log in data["logs"])


async def test_a_lost_payment_answer_is_settled_by_reading_the_status(sandbox, http, install_salon):
    await install_salon(101)
    await sandbox.control.program_faults(PAYMENT, [{"status": 502, "apply": True}])

    status, answer = await call(http, sandbox, "POST", PAYMENT, payment_body(payment_sum=2490))

    assert status == 502
    assert answer["success"] is False
    [payment] = (await status_of(http, sandbox))["payments"]
    assert payment["payment_sum"] == 2490
    assert payment["is_refunded"] is False
    assert [c["status"] for c in await sandbox.control.calls(PAYMENT)] == [502]


async def test_the_pending_salon_has_a_status_and_an_unknown_one_404(sandbox, http):
    await sandbox.control.consent([101])

    data = await status_of(http, sandbox)
    assert data["connection_status"]["status"] == "pending"
    assert data["payments"] == []
    status, answer = await call(http, sandbox, "GET", STATUS.format(salon_id=102))
    assert status == 404
    assert answer["success"] is False


async def test_a_refund_of_the_subscription_freezes_at_once_and_tells_us(
    sandbox, http, install_salon, receiver
):
    await install_salon(101)
    _, answer = await call(http, sandbox, "POST", PAYMENT, payment_body())
    refund = f"{PAYMENT}/refund/{answer['data']['id']}"

    status, refunded = await call(http, sandbox, "POST", refund)

    assert status == 200
    assert refunded["data"]["is_refunded"] is True
    data = await status_of(http, sandbox)
    assert data["connection_status"]["status"] == "freezed"
    assert data["payments"][0]["is_refunded"] is True
    assert data["logs"][-1]["status_to"] == "freezed"
    assert data["logs"][-1]["source"] == "billing"
    [(path, event)] = await receiver.wait_for(1)
    assert path == "/callback/yclients"
    assert event["event"] == "freeze"
    assert event["salon_id"] == 101

    status, again = await call(http, sandbox, "POST", refund)
    assert status == 422
    assert again["meta"]["message"] == "Платёж уже возвращён."


async def test_a_refund_leaving_another_paid_period_keeps_the_salon(sandbox, http, install_salon):
    await install_salon(101)
    _, first = await call(http, sandbox, "POST", PAYMENT, payment_body())
    await call(http, sandbox, "POST", PAYMENT, payment_body(payment_sum=990))

    status, _ = await call(http, sandbox, "POST", f"{PAYMENT}/refund/{first['data']['id']}")

    assert status == 200
    data = await status_of(http, sandbox)
    assert data["connection_status"]["status"] == "active"
    assert [p["is_refunded"] for p in data["payments"]] == [True, False]


async def test_a_refund_of_an_unknown_payment_is_422(sandbox, http):
    status, answer = await call(http, sandbox, "POST", f"{PAYMENT}/refund/77")

    assert status == 422
    assert answer["meta"]["message"] == "Платёж не найден."


async def test_a_payment_reactivates_a_frozen_salon(sandbox, http, install_salon):
    await install_salon(101)
    await sandbox.control.send_lifecycle(101, "freeze")

    await call(http, sandbox, "POST", PAYMENT, payment_body())

    assert (await status_of(http, sandbox))["connection_status"]["status"] == "active"


async def trial_sandbox(receiver, **overrides):
    return run_sandbox(
        partner_token="partner-token-of-the-tests",
        callback_url=f"{receiver.url}/callback/yclients",
        rate_per_second=0,
        rate_per_minute=0,
        trial_seconds=3600,
        **overrides,
    )


async def install_in(sandbox, http, body_for, salon_id=101):
    await sandbox.control.consent([salon_id])
    status, answer = await call(
        http, sandbox, "POST", "/marketplace/partner/callback", body_for(salon_id)
    )
    assert status == 201, answer


async def test_an_unpaid_salon_is_frozen_when_its_trial_ends(receiver, http, body_for):
    async with await trial_sandbox(receiver) as sandbox:
        await install_in(sandbox, http, body_for)
        [trial] = (await sandbox.control.schedule())["trials"]
        assert trial["salon_id"] == 101

        await sandbox.control.advance_clock(3601)
        [(_, event)] = await receiver.wait_for(1)

        assert event["event"] == "freeze"
        data = await status_of(http, sandbox)
        assert data["connection_status"]["status"] == "freezed"
        assert data["logs"][-1]["source"] == "billing"
        assert (await sandbox.control.schedule())["trials"] == []

        status, _ = await call(http, sandbox, "POST", PAYMENT, payment_body())
        assert status == 200
        assert (await status_of(http, sandbox))["connection_status"]["status"] == "active"


async def test_a_salon_that_paid_in_its_trial_stays_active(receiver, http, body_for):
    async with await trial_sandbox(receiver) as sandbox:
        await install_in(sandbox, http, body_for)
        await call(http, sandbox, "POST", PAYMENT, payment_body())
        assert (await sandbox.control.schedule())["trials"] == []

        await sandbox.control.advance_clock(7200)

        assert (await status_of(http, sandbox))["connection_status"]["status"] == "active"
        assert receiver.received == []


async def test_the_payment_link_is_404_without_tariffs(sandbox, http, install_salon):
    await install_salon(101)

    status, answer = await call(
        http, sandbox, "GET", LINK, params={"salon_id": "101", "application_id": "45"}
    )

    assert status == 404
    assert answer == {"success": False, "data": None, "meta": {"message": "Произошла ошибка"}}


async def test_the_tariffs_endpoint_lists_what_is_configured(sandbox, http):
    assert await call(http, sandbox, "GET", "/marketplace/application/45/tariffs") == (
        200,
        {"success": True, "data": [], "meta": {}},
    )
    await sandbox.control.set_tariffs(TARIFFS)

    status, answer = await call(http, sandbox, "GET", "/marketplace/application/45/tariffs")

    assert status == 200
    month, year = answer["data"]
    assert month["title"] == "Месяц"
    [option] = year["options"]
    assert option["overall_price"] == 19900
    assert option["duration_in_months"] == 12
    assert option["currency_iso"] == "RUB"
    assert {"id", "title", "staff_amount", "free_period_in_months"} <= set(option)
    status, _ = await call(http, sandbox, "GET", "/marketplace/application/46/tariffs")
    assert status == 403


async def test_the_payment_link_leads_to_a_page_where_the_salon_pays(
    sandbox, http, install_salon, receiver
):
    await install_salon(101)
    await sandbox.control.send_lifecycle(101, "freeze")
    await sandbox.control.set_tariffs(TARIFFS)

    status, answer = await call(
        http, sandbox, "GET", LINK, params={"salon_id": "101", "application_id": "45"}
    )

    assert status == 200
    url = answer["data"]["url"]
    assert url.startswith(f"{sandbox.url}/appstore/payment/?")
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["salon_id"] == "101"
    assert query["application_id"] == "45"
    assert len(query["sign"]) == 64
    async with http.get(url) as page:
        text = await page.text()
    assert page.status == 200
    assert "Салон на Тверской" in text
    assert "1990 RUB" in text
    form = {**query, "option": "1001"}
    async with http.post(f"{sandbox.url}/appstore/payment/", data=form) as paid:
        assert paid.status == 200
        assert "Оплачено" in await paid.text()

    data = await status_of(http, sandbox)
    assert data["connection_status"]["status"] == "active"
    [payment] = data["payments"]
    assert (payment["payment_sum"], payment["source"]) == (1990, "marketplace")
    _, event = (await receiver.wait_for(2))[1]
    assert event["event"] == "payment"
    assert event["payment_id"] == payment["id"]
    assert event["payment_sum"] == 1990
    assert event["currency_iso"] == "RUB"
    salon = await sandbox.control.salon(101)
    assert [link["url"] for link in salon["payment_links"]] == [url]


async def test_a_tampered_payment_link_is_refused(sandbox, http, install_salon):
    await install_salon(101)
    await sandbox.control.set_tariffs(TARIFFS)
    _, answer = await call(
        http, sandbox, "GET", LINK, params={"salon_id": "101", "application_id": "45"}
    )

    async with http.get(answer["data"]["url"].replace("salon_id=101", "salon_id=102")) as page:
        assert page.status == 403


async def test_the_payment_link_checks_its_query(sandbox, http, install_salon):
    await install_salon(101)
    await sandbox.control.set_tariffs(TARIFFS)

    status, answer = await call(http, sandbox, "GET", LINK, params={"application_id": "45"})
    assert status == 422
    assert "salon_id" in answer["meta"]["errors"]
    status, _ = await call(
        http, sandbox, "GET", LINK, params={"salon_id": "101", "application_id": "46"}
    )
    assert status == 403
    status, answer = await call(
        http,
        sandbox,
        "GET",
        LINK,
        params={"salon_id": "101", "application_id": "45", "tariff_option_id": "9"},
    )
    assert status == 422
    assert "tariff_option_id" in answer["meta"]["errors"]
    status, answer = await call(
        http, sandbox, "GET", LINK, params={"salon_id": "102", "application_id": "45"}
    )
    assert status == 422  # not installed there


async def test_a_discount_for_several_salons_is_recorded_and_priced_in(
    sandbox, http, install_salon
):
    await install_salon(101, 102)
    await sandbox.control.set_tariffs(TARIFFS)
    body = {"salon_ids": [101, 102], "application_id": 45, "discount": 15.5}

    status, answer = await call(
        http, sandbox, "POST", "/marketplace/application/add_discount", body
    )

    assert status == 200
    assert answer["data"] == {"salon_ids": [101, 102], "discount": 15.5}
    for salon_id in (101, 102):
        salon = await sandbox.control.salon(salon_id)
        assert salon["discount"] == 15.5
        assert [d["discount"] for d in salon["discounts"]] == [15.5]
    assert (await sandbox.control.salon(103))["discount"] is None
    _, link = await call(
        http,
        sandbox,
        "GET",
        LINK,
        params={"salon_id": "102", "application_id": "45", "tariff_option_id": "1001"},
    )
    query = dict(parse_qsl(urlsplit(link["data"]["url"]).query))
    assert (query["discount"], query["tariff_option_id"]) == ("15.5", "1001")
    async with http.get(link["data"]["url"]) as page:
        text = await page.text()
    assert "1681.55 RUB" in text  # 1990 less 15.5 %
    assert "Год" not in text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"salon_ids": [], "application_id": 45, "discount": 10}, "salon_ids"),
        ({"salon_ids": "101", "application_id": 45, "discount": 10}, "salon_ids"),
        ({"salon_ids": [101], "application_id": 45}, "discount"),
        ({"salon_ids": [101], "application_id": 45, "discount": 120}, "discount"),
        ({"salon_ids": [101, 999], "application_id": 45, "discount": 10}, "salon_ids"),
    ],
)
async def test_an_invalid_discount_is_422(sandbox, http, body, field):
    status, answer = await call(
        http, sandbox, "POST", "/marketplace/application/add_discount", body
    )

    assert status == 422
    assert field in answer["meta"]["errors"]
    assert all(s["discounts"] == [] for s in await sandbox.control.salons())


async def test_the_uninstall_event_follows_the_answer(sandbox, http, install_salon, receiver):
    await install_salon(101)
    path = "/marketplace/salon/101/application/45/uninstall"
    await sandbox.control.program_faults(
        path, [{"status": 200, "apply": True, "delay_seconds": 0.5}]
    )
    started = time.monotonic()
    status, _ = await call(http, sandbox, "POST", path)

    assert status == 200
    [(_, event)] = await receiver.wait_for(1)
    assert event["event"] == "uninstall"
    # Sent once the (delayed) answer was written, not when the uninstall was done.
    assert receiver.arrived_at[0] - started >= 0.5
    assert (await sandbox.control.salon(101))["status"] == "uninstalled"


async def test_installed_salons_are_paged_with_names_and_yclients_status(
    sandbox, http, install_salon
):
    await install_salon(101, 102, 103)
    await sandbox.control.send_lifecycle(102, "freeze")
    salons = "/marketplace/application/45/salons"

    _, first = await call(http, sandbox, "GET", salons, params={"page": "1", "count": "2"})
    _, second = await call(http, sandbox, "GET", salons, params={"page": "2", "count": "2"})

    listed = first["data"] + second["data"]
    assert [(s["id"], s["title"], s["status"]) for s in listed] == [
        (101, "Салон на Тверской", "active"),
        (102, "Салон на Арбате", "freezed"),
        (103, "Барбершоп «Борода» на Невском", "active"),
    ]
    assert [len(first["data"]), len(second["data"])] == [2, 1]
    assert first["meta"]["total_count"] == 3


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"{LINK}?salon_id=101&application_id=45", None),
        ("GET", "/marketplace/application/45/tariffs", None),
        ("POST", "/marketplace/application/add_discount", {}),
        ("POST", f"{PAYMENT}/refund/1", None),
    ],
)
async def test_the_new_endpoints_are_behind_the_partner_gate(sandbox, http, method, path, body):
    bare_path = path.split("?")[0]
    async with (
        aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as bare,
        bare.request(method, f"{sandbox.url}{path}", json=body) as response,
    ):
        assert response.status == 403
        assert response.content_type == "text/html"
    status, answer = await call(
        http, sandbox, method, path, body, headers={"Authorization": "Bearer wrong"}
    )
    assert (status, answer["success"]) == (401, False)
    await sandbox.control.program_faults(bare_path, [{"status": 503}])
    status, answer = await call(http, sandbox, method, path, body)
    assert status == 503
    assert answer["meta"]["message"]
    assert [c["status"] for c in await sandbox.control.calls(bare_path)] == [403, 401, 503]
