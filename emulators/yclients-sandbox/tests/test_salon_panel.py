"""The page's section per installed salon: «Создать запись», notifications with their statuses
in Russian, billing; refreshed by a small script of its own."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.asyncio

PANEL = "/marketplace/panel"


async def text_of(http, url):
    async with http.get(url) as response:
        assert response.status == 200
        return await response.text()


async def test_only_installed_salons_get_a_section(sandbox, http, install_salon):
    assert 'id="salon-' not in await text_of(http, f"{sandbox.url}/")

    await install_salon(101)
    page = await text_of(http, f"{sandbox.url}/")

    assert 'id="salon-101"' in page
    assert 'id="salon-102"' not in page
    assert "Создать запись" in page
    assert f'value="{sandbox.config.client_phone}"' in page
    assert sandbox.config.client_name in page
    assert sandbox.config.service in page
    assert "канал WhatsApp включён" in page
    assert "<script>" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


async def test_the_button_books_and_the_statuses_appear_in_russian(
    sandbox, http, install_salon, operator
):
    await sandbox.control.set_notify_url(operator.url)
    await install_salon(101)
    form = {
        "salon_id": "101",
        "client_phone": "79990001111",
        "client_name": "Ольга Петрова",
        "service": "Стрижка женская",
    }

    async with http.post(
        f"{sandbox.url}/marketplace/demo/records", data=form, allow_redirects=False
    ) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/#salon-101"
    [(_, body)] = await operator.wait_for(1)
    assert body["destination_params"]["phone"] == "79990001111"
    await sandbox.control.wait_for_notifications(
        lambda sent: bool(sent) and sent[0]["outcome"] == "delivered"
    )
    panel = await text_of(http, f"{sandbox.url}{PANEL}")
    assert "Подтверждение записи" in panel
    assert "Принято оператором" in panel
    assert "Стрижка женская" in panel

    labels = []
    for status in (8, 4, 1):
        report = {"id": body["destination_params"]["id"], "status": status}
        report |= {"payment_sum": 0, "currency_iso": "RUB", "parts_amount": 1}
        async with http.post(body["delivery_callback_url"], json=[report]) as response:
            assert response.status == 200
        panel = await text_of(http, f"{sandbox.url}{PANEL}")
        labels.append(next(label for label in LABELS if label in panel))
    assert labels == ["Передано оператору", "Отправлено на телефон", "Доставлено"]


LABELS = ("Передано оператору", "Отправлено на телефон", "Доставлено", "Не доставлено")


async def test_a_failed_delivery_and_a_skipped_send_are_shown(
    sandbox, http, install_salon, operator
):
    await sandbox.control.set_notify_url(operator.url)
    await install_salon(101)
    created = await sandbox.control.create_record(101, "79990001111")
    send_id = created["notification"]["destinations"][0]["id"]
    report = {"id": send_id, "status": 2}
    async with http.post(created["notification"]["body"]["delivery_callback_url"], json=[report]):
        pass
    await sandbox.control.set_notify_url(None)
    await sandbox.control.create_record(101, "79990001111")

    panel = await text_of(http, f"{sandbox.url}{PANEL}")

    assert "Не доставлено" in panel
    assert "Не отправлено: Адрес оператора не задан" in panel


async def test_billing_shows_payments_refunds_discounts_and_the_link(sandbox, http, install_salon):
    await install_salon(101)
    panel = await text_of(http, f"{sandbox.url}{PANEL}")
    assert "Платежей нет" in panel
    assert "нет тарифов" in panel
    assert "«Произошла ошибка»" in panel

    payment = {
        "salon_id": 101,
        "application_id": 45,
        "payment_sum": 1990,
        "currency_iso": "RUB",
        "payment_date": "2026-11-24 12:00:00",
        "period_from": "2026-11-24 00:00:00",
        "period_to": "2026-12-24 00:00:00",
    }
    async with http.post(f"{sandbox.url}/marketplace/partner/payment", json=payment) as paid:
        payment_id = (await paid.json())["data"]["id"]
    async with http.post(f"{sandbox.url}/marketplace/partner/payment/refund/{payment_id}"):
        pass
    discount = {"salon_ids": [101], "application_id": 45, "discount": 10}
    async with http.post(f"{sandbox.url}/marketplace/application/add_discount", json=discount):
        pass
    await sandbox.control.set_tariffs([{"title": "Месяц", "price": 1990}])
    panel = await text_of(http, f"{sandbox.url}{PANEL}")
    assert "ссылку ещё не запрашивали" in panel
    async with http.get(
        f"{sandbox.url}/marketplace/application/payment_link",
        params={"salon_id": "101", "application_id": "45"},
    ) as response:
        assert response.status == 200

    panel = await text_of(http, f"{sandbox.url}{PANEL}")

    assert f"Платёж № {payment_id}: 1990 RUB" in panel
    assert "возвращён" in panel
    assert "заморожено" in panel
    assert "Скидка 10%" in panel
    assert 'href="/appstore/payment/?' in panel
