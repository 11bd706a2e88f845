"""``GET /auth/yclients/redirect`` against the gateway as a real process."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import aiohttp
import pytest
from sqlalchemy import select, update

from shared.crypto import hmac_sha256_hex
from shared.db import Database
from shared.models import Company, Connection, MarketplaceToken
from testkit.environment import TEST_SECRETS

PARTNER_TOKEN = TEST_SECRETS["YCLIENTS_PARTNER_TOKEN"]
TRY_AGAIN = "Вернитесь в YClients и нажмите «Подключить» ещё раз"


async def _get(url: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as response:
        return response.status, dict(response.headers), await response.text()


async def _companies(database: Database, salon_ids: list[int]) -> dict[int, Company]:
    async with database.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(Company).where(Company.id.in_(salon_ids)))).all()
        await uow.commit()  # a rollback would expire what was read
    return {row.id: row for row in rows}


def _signed(user: dict[str, object], encode=base64.urlsafe_b64encode) -> list[tuple[str, str]]:
    raw = json.dumps(user, ensure_ascii=False).encode()
    return [
        ("user_data", encode(raw).decode()),
        ("user_data_sign", hmac_sha256_hex(PARTNER_TOKEN, raw)),
    ]


@pytest.mark.parametrize("ids_form", ["single", "brackets", "indexed"])
async def test_a_signed_redirect_opens_a_pending_connection_and_hands_out_a_token(
    gateway, database, new_salons, ids_form
):
    salon_ids = new_salons(1 if ids_form == "single" else 3)
    status, headers, _ = await _get(gateway.redirect_url(salon_ids, ids_form=ids_form))
    assert status == 302
    token = gateway.token_from(headers["Location"])
    companies = await _companies(database, salon_ids)
    assert set(companies) == set(salon_ids)
    connection_ids = {company.connection_id for company in companies.values()}
    assert len(connection_ids) == 1
    (connection_id,) = connection_ids
    assert all(company.integration_status == "pending" for company in companies.values())
    first = companies[salon_ids[0]]
    assert (first.marketplace_user_id, first.marketplace_user_name) == ("1209543", "Анна Смирнова")
    assert first.marketplace_user_phone == "79161234567"
    async with database.unit_of_work() as uow:
        connection = await uow.session.get(Connection, connection_id)
        tokens = (
            await uow.session.scalars(
                select(MarketplaceToken).where(MarketplaceToken.connection_id == connection_id)
            )
        ).all()
        await uow.commit()
    assert connection is not None
    assert connection.status == "pending"
    assert (datetime.now(UTC) - connection.consented_at).total_seconds() < 60
    assert len(tokens) == 1
    assert 3000 < (tokens[0].expires_at - datetime.now(UTC)).total_seconds() <= 3300
    assert token.count(".") == 2


@pytest.mark.parametrize(
    "encode",
    [base64.b64encode, lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=")],
    ids=["standard-base64", "unpadded-urlsafe"],
)
async def test_other_encodings_of_user_data_are_accepted(gateway, database, new_salons, encode):
    (salon_id,) = new_salons(1)
    user = {"user_id": 5, "name": "Ирина", "salon_name": "Барбершоп «Усы»"}
    url = gateway.url_with(
        "/auth/yclients/redirect", [("salon_ids[0]", str(salon_id)), *_signed(user, encode)]
    )
    status, _, _ = await _get(url)
    assert status == 302
    company = (await _companies(database, [salon_id]))[salon_id]
    assert (company.marketplace_user_id, company.salon_name) == ("5", "Барбершоп «Усы»")


async def test_a_plus_that_arrived_as_a_space_is_tolerated(gateway, new_salons):
    (salon_id,) = new_salons(1)
    user = {
        "id": 77,
        "name": "Анна Петрова",
        "phone": "+7 (999) 123-45-67",
        "salon_name": "Салон «Ромашка»",
    }
    raw = json.dumps(user, ensure_ascii=False, separators=(",", ":")).encode()
    encoded = base64.b64encode(raw).decode()
    assert "+" in encoded
    # Written into the URL unencoded, as some clients do: the server reads "+" as a space.
    url = (
        f"{gateway.url}/auth/yclients/redirect?salon_id={salon_id}&user_data={encoded}"
        f"&user_data_sign={hmac_sha256_hex(PARTNER_TOKEN, raw)}"
    )
    status, _, _ = await _get(url)
    assert status == 302


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ([], 400),
        ([("salon_id", "abc")], 400),
        ([("salon_id", "0")], 400),
        ([("salon_ids[]", "-5")], 400),
        ([("salon_ids[]", str(n)) for n in range(1, 60)], 400),
    ],
    ids=["no-salon", "not-a-number", "zero", "negative", "too-many"],
)
async def test_bad_salon_ids_get_a_russian_error_page(gateway, params, status):
    url = gateway.url_with("/auth/yclients/redirect", [*params, *_signed({"id": 1})])
    code, headers, body = await _get(url)
    assert code == status
    assert headers["Content-Type"].startswith("text/html")
    assert TRY_AGAIN in body
    assert "Traceback" not in body


async def test_a_forged_signature_is_refused_and_changes_nothing(gateway, database, new_salons):
    (salon_id,) = new_salons(1)
    params = _signed({"id": 1, "name": "Мошенник"})
    params[1] = ("user_data_sign", hmac_sha256_hex("not-the-partner-token-0123456789", b"{}"))
    code, headers, body = await _get(
        gateway.url_with("/auth/yclients/redirect", [("salon_id", str(salon_id)), *params])
    )
    assert code == 403
    assert "Location" not in headers
    assert "Подпись ссылки не совпадает" in body
    assert TRY_AGAIN in body
    assert await _companies(database, [salon_id]) == {}


async def test_tampered_user_data_is_refused(gateway, new_salons):
    (salon_id,) = new_salons(1)
    params = _signed({"id": 1, "name": "Анна"})
    tampered = base64.urlsafe_b64encode(json.dumps({"id": 2, "name": "Анна"}).encode()).decode()
    params[0] = ("user_data", tampered)
    code, _, _ = await _get(
        gateway.url_with("/auth/yclients/redirect", [("salon_id", str(salon_id)), *params])
    )
    assert code == 403


@pytest.mark.parametrize(
    "params",
    [
        [],
        [("user_data_sign", "ab" * 32)],
        [("user_data", base64.b64encode(b'{"id":1}').decode())],
        [("user_data", "%%%"), ("user_data_sign", "ab" * 32)],
    ],
    ids=["no-user-data", "sign-only", "user-data-unsigned", "garbage"],
)
async def test_incomplete_requests_are_refused(gateway, new_salons, params):
    (salon_id,) = new_salons(1)
    code, _, body = await _get(
        gateway.url_with("/auth/yclients/redirect", [("salon_id", str(salon_id)), *params])
    )
    assert code == 400
    assert TRY_AGAIN in body


async def _mark_active(database: Database, yclients, salon_ids: list[int]) -> uuid.UUID:
    """The salons are installed: in our data and in YClients'."""
    for salon_id in salon_ids:
        await yclients.control.put_salon(salon_id, status="active")
    async with database.unit_of_work() as uow:
        connection = Connection(id=uuid.uuid4(), status="active", consented_at=datetime.now(UTC))
        uow.session.add(connection)
        await uow.session.flush()
        await uow.session.execute(
            update(Company)
            .where(Company.id.in_(salon_ids))
            .values(integration_status="active", connection_id=connection.id, api_key_hash="h")
        )
        await uow.commit()
    return connection.id


async def test_a_replayed_redirect_never_resets_an_active_salon(
    gateway, database, yclients, new_salons
):
    salon_ids = new_salons(2)
    status, _, _ = await _get(gateway.redirect_url(salon_ids))
    assert status == 302
    active_connection = await _mark_active(database, yclients, salon_ids)

    status, headers, body = await _get(gateway.redirect_url(salon_ids))
    assert status == 200
    assert "Location" not in headers
    assert "Уже подключено" in body
    assert "token" not in body.lower()
    for company in (await _companies(database, salon_ids)).values():
        assert company.integration_status == "active"
        assert company.connection_id == active_connection
        assert company.api_key_hash == "h"


async def test_a_redirect_with_active_and_new_salons_opens_only_the_new_ones(
    gateway, database, yclients, new_salons
):
    active, fresh = new_salons(2)
    await _get(gateway.redirect_url([active]))
    active_connection = await _mark_active(database, yclients, [active])

    status, _, _ = await _get(gateway.redirect_url([active, fresh]))
    assert status == 302
    companies = await _companies(database, [active, fresh])
    assert companies[active].integration_status == "active"
    assert companies[active].connection_id == active_connection
    assert companies[fresh].integration_status == "pending"
    assert companies[fresh].connection_id not in (None, active_connection)


async def test_pages_carry_the_security_headers(gateway, new_salons):
    status, headers, _ = await _get(f"{gateway.url}/marketplace/onboarding")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "img-src 'self' data:" in csp
    connect = next(part for part in csp.split("; ") if part.startswith("connect-src"))
    assert "ws:" not in connect.split() and "wss:" not in connect.split()  # not to any host
    assert "frame-ancestors 'self' https://*.yclients.com" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in headers  # only in production

    status, headers, _ = await _get(gateway.redirect_url(new_salons(1)))
    assert status == 302
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"


async def test_the_page_and_its_assets_are_served_by_the_gateway(gateway):
    _, _, page = await _get(f"{gateway.url}/marketplace/onboarding")
    assert 'lang="ru"' in page
    assert "<script>" not in page  # no inline script: the CSP forbids it
    assert "https://yclients.com/appstore/" in page
    for asset in (
        "/marketplace/static/onboarding.js",
        "/marketplace/static/onboarding.css",
        "/marketplace/static/vendor/socket.io.min.js",
    ):
        assert asset in page
        status, _, _ = await _get(f"{gateway.url}{asset}")
        assert status == 200


async def test_unknown_pages_get_a_russian_404(gateway):
    status, _, body = await _get(f"{gateway.url}/marketplace/nothing-here")
    assert status == 404
    assert "Страница не найдена" in body


async def test_an_overlong_link_gets_a_russian_page(gateway, new_salons):
    url = gateway.redirect_url(new_salons(1)) + "&padding=" + "x" * 9000
    status, headers, body = await _get(url)
    assert status == 414
    assert "Ссылка слишком длинная" in body and TRY_AGAIN in body
    assert headers["Content-Type"].startswith("text/html")
