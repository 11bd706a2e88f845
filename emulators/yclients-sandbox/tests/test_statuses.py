"""The status endpoint our channel reports to: auth, validation, order of arrival, faults."""

from __future__ import annotations

import time

import aiohttp
import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio

VISIT = "2026-11-25T14:00:00+03:00"
PHONE = "79990001111"


@pytest_asyncio.fixture
async def sent(sandbox, operator, install_salon):
    """A confirmation sent for salon 101: (the request body our channel got, its send id)."""
    await sandbox.control.set_notify_url(operator.url)
    await install_salon(101)
    await sandbox.control.create_record(101, PHONE, visit_at=VISIT)
    [(_, body)] = operator.requests
    return body, body["destination_params"]["id"]


def report(send_id, status, **fields):
    return {
        "id": send_id,
        "status": status,
        "payment_sum": 0,
        "currency_iso": "RUB",
        "parts_amount": 1,
        **fields,
    }


async def post(http, url, body, **kwargs):
    async with http.post(url, json=body, **kwargs) as response:
        return response.status, await response.json()


async def test_statuses_are_kept_per_send_id_in_order_of_arrival(sandbox, http, sent):
    body, send_id = sent
    callback = body["delivery_callback_url"]

    for status in (8, 4, 1):
        answer = await post(http, callback, [report(send_id, status)])
        assert answer == (200, {"success": True, "data": None, "meta": {}})

    statuses = (await sandbox.control.statuses(send_id))[send_id]
    assert [s["status"] for s in statuses] == [8, 4, 1]
    assert [s["label"] for s in statuses] == [
        "Передано оператору",
        "Отправлено на телефон",
        "Доставлено",
    ]
    assert all(s["time"] and s["currency_iso"] == "RUB" for s in statuses)
    [notification] = await sandbox.control.notifications(101)
    [destination] = notification["destinations"]
    assert destination["status"] == 1
    assert destination["status_label"] == "Доставлено"
    assert [s["status"] for s in destination["statuses"]] == [8, 4, 1]


async def test_several_reports_in_one_array_and_a_single_object(sandbox, http, sent, operator):
    body, send_id = sent
    await sandbox.control.send_mailing(101, phones=[PHONE])
    other = operator.requests[-1][1]["destination_params"]["id"]

    status, _ = await post(
        http, body["delivery_callback_url"], [report(send_id, 8), report(other, 16)]
    )
    assert status == 200
    status, _ = await post(http, body["delivery_callback_url"], report(send_id, 2))
    assert status == 200

    everything = await sandbox.control.statuses()
    assert [s["status"] for s in everything[send_id]] == [8, 2]
    assert [s["label"] for s in everything[other]] == ["Отклонено"]


@pytest.mark.parametrize(
    ("body", "keys"),
    [
        ([{"status": 1, "payment_sum": 0, "currency_iso": "RUB", "parts_amount": 1}], {"0.id"}),
        ([{"id": "SEND", "status": 3}], {"0.status"}),
        ([{"id": "SEND", "status": 8}], {"0.payment_sum", "0.currency_iso", "0.parts_amount"}),
        (
            [{"id": "SEND", "status": 1, "payment_sum": -1, "currency_iso": "rub"}],
            {"0.payment_sum", "0.currency_iso", "0.parts_amount"},
        ),
        ([{"id": "SEND", "status": 4}, "x"], {"1"}),
        ([{"id": "SEND", "status": "1"}], {"0.status"}),
    ],
)
async def test_invalid_fields_are_400_with_code_10(sandbox, http, sent, body, keys):
    callback, send_id = sent[0]["delivery_callback_url"], sent[1]
    body = [
        {**item, "id": send_id} if isinstance(item, dict) and item.get("id") == "SEND" else item
        for item in body
    ]

    status, answer = await post(http, callback, body)

    assert status == 400
    assert answer["success"] is False
    assert answer["data"] is None
    assert answer["meta"]["code"] == 10
    assert set(answer["meta"]["errors"]) == keys
    assert await sandbox.control.statuses() == {}


async def test_a_status_without_amounts_is_taken_where_none_are_owed(sandbox, http, sent):
    body, send_id = sent

    status, _ = await post(http, body["delivery_callback_url"], [{"id": send_id, "status": 4}])

    assert status == 200
    [entry] = (await sandbox.control.statuses(send_id))[send_id]
    assert entry["payment_sum"] is None


@pytest.mark.parametrize("payload", ["not json", "[]", '"text"'])
async def test_a_body_that_is_not_an_array_of_reports_is_400_with_code_5(http, sent, payload):
    async with http.post(
        sent[0]["delivery_callback_url"],
        data=payload,
        headers={"Content-Type": "application/json"},
    ) as response:
        answer = await response.json()

    assert response.status == 400
    assert answer["meta"]["code"] == 5


async def test_an_unknown_send_id_is_404_with_code_30(sandbox, http, sent):
    body, send_id = sent

    status, answer = await post(
        http, body["delivery_callback_url"], [report(send_id, 1), report("404404", 1)]
    )

    assert status == 404
    assert answer["meta"]["code"] == 30
    assert answer["meta"]["errors"] == {"id": ["404404"]}
    assert await sandbox.control.statuses() == {}


async def test_the_token_in_the_path_and_the_bearer_are_both_checked(sandbox, http, sent):
    body, send_id = sent
    wrong_path = f"{sandbox.url}/smsprovider/status/callback/another-token"

    status, answer = await post(http, wrong_path, [report(send_id, 1)])
    assert (status, answer["meta"]["code"]) == (401, 20)

    status, answer = await post(
        http,
        body["delivery_callback_url"],
        [report(send_id, 1)],
        headers={"Authorization": "Bearer another-token"},
    )
    assert (status, answer["meta"]["code"]) == (401, 20)
    assert await sandbox.control.statuses() == {}


async def test_the_status_endpoint_is_behind_the_firewall(sandbox, sent):
    body, send_id = sent
    headers = {"Authorization": f"Bearer {sandbox.config.partner_token}"}
    async with (
        aiohttp.ClientSession(headers=headers, skip_auto_headers=["User-Agent"]) as bare,
        bare.post(body["delivery_callback_url"], json=[report(send_id, 1)]) as response,
    ):
        assert response.status == 403
        assert response.content_type == "text/html"


async def test_faults_can_be_programmed_for_the_status_endpoint(sandbox, http, sent):
    body, send_id = sent
    path = body["delivery_callback_url"].removeprefix(sandbox.url)
    await sandbox.control.program_faults(
        path, [{"status": 500}, {"status": 200, "delay_seconds": 0.3}]
    )

    status, answer = await post(http, body["delivery_callback_url"], [report(send_id, 8)])
    assert status == 500
    assert answer["success"] is False
    started = time.monotonic()
    status, _ = await post(http, body["delivery_callback_url"], [report(send_id, 8)])
    assert status == 200
    assert time.monotonic() - started >= 0.3
    status, _ = await post(http, body["delivery_callback_url"], [report(send_id, 1)])
    assert status == 200

    # Only the last report was handled: a fault without `apply` answers in the request's place.
    assert [s["status"] for s in (await sandbox.control.statuses(send_id))[send_id]] == [1]


async def test_an_applied_fault_keeps_the_status_but_loses_the_answer(sandbox, http, sent):
    body, send_id = sent
    path = body["delivery_callback_url"].removeprefix(sandbox.url)
    await sandbox.control.program_faults(path, [{"status": 502, "apply": True}])

    status, _ = await post(http, body["delivery_callback_url"], [report(send_id, 1)])

    assert status == 502
    assert [s["status"] for s in (await sandbox.control.statuses(send_id))[send_id]] == [1]


async def test_calls_to_the_status_endpoint_are_recorded_without_the_token(sandbox, http, sent):
    body, send_id = sent
    await post(http, body["delivery_callback_url"], [report(send_id, 1)])

    path = body["delivery_callback_url"].removeprefix(sandbox.url)
    [call] = await sandbox.control.calls(path)
    token = sandbox.config.partner_token
    assert token not in call["path"]
    assert call["path"].startswith("/smsprovider/status/callback/sha256:")
    assert token not in call["headers"]["Authorization"]
    assert call["status"] == 200
    assert call["body"] == [report(send_id, 1)]
