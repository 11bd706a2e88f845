"""The "Подключить" page: Russian, phone-sized, no CDN; the click records consent and redirects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest

pytestmark = pytest.mark.asyncio


async def test_page_is_russian_mobile_and_self_contained(sandbox, http):
    async with http.get(f"{sandbox.url}/") as response:
        page = await response.text()

    assert response.status == 200
    assert '<html lang="ru">' in page
    assert 'name="viewport"' in page
    assert "Подключить" in page
    assert "AI Admin" in page
    for salon in sandbox.config.salons:
        assert salon.name in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    async with http.get(f"{sandbox.url}/marketplace") as response:
        assert response.status == 200


async def connect(http, sandbox, form, query=""):
    async with http.post(
        f"{sandbox.url}/marketplace/connect{query}", data=form, allow_redirects=False
    ) as response:
        return response.status, response.headers.get("Location", ""), await response.text()


def verified_user(location, token):
    values = dict(parse_qsl(urlsplit(location).query))
    decoded = base64.urlsafe_b64decode(values["user_data"])
    sign = hmac.new(token.encode(), decoded, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sign, values["user_data_sign"])
    return json.loads(decoded)


async def test_one_salon_redirects_with_salon_id_and_starts_its_window(sandbox, http):
    status, location, _ = await connect(http, sandbox, [("salon_id", "101")])

    assert status == 302
    assert location.startswith(sandbox.config.redirect_url + "?salon_id=101&user_data=")
    user = verified_user(location, sandbox.config.partner_token)
    assert user["name"] == sandbox.config.user.name
    assert user["salon_name"] == "Салон на Тверской"
    salon = await sandbox.control.salon(101)
    assert salon["status"] == "pending"
    assert salon["consent_at"] is not None
    assert (await sandbox.control.salon(102))["status"] == "not_installed"


async def test_several_salons_redirect_with_salon_ids_brackets(sandbox, http):
    status, location, _ = await connect(http, sandbox, [("salon_id", "101"), ("salon_id", "102")])

    assert status == 302
    assert "?salon_ids[]=101&salon_ids[]=102&user_data=" in location
    verified_user(location, sandbox.config.partner_token)
    assert [s["status"] for s in await sandbox.control.salons()][:2] == ["pending", "pending"]


async def test_indexed_form_is_chosen_by_the_page_query(sandbox, http):
    async with http.get(f"{sandbox.url}/?ids_form=indexed") as response:
        assert 'name="ids_form" value="indexed"' in await response.text()

    form = [("salon_id", "101"), ("salon_id", "102"), ("ids_form", "indexed")]
    _, location, _ = await connect(http, sandbox, form)

    assert "?salon_ids[0]=101&salon_ids[1]=102&" in location


async def test_no_salon_chosen_shows_the_page_again_with_an_error(sandbox, http):
    status, _, page = await connect(http, sandbox, [("ids_form", "auto")])

    assert status == 400
    assert "Выберите хотя бы один филиал" in page
    assert all(s["status"] == "not_installed" for s in await sandbox.control.salons())
