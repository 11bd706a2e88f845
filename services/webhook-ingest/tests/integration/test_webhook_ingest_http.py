"""The endpoint against the real process: what is accepted is recorded once; every refusal is
the right 4xx with a JSON reason."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from shared.db import Database
from shared.models import MarketplaceEvent
from testkit.environment import TEST_SECRETS
from testkit.processes import eventually

PARTNER_TOKEN = TEST_SECRETS["YCLIENTS_PARTNER_TOKEN"]


def record(salon_id: int, resource_id: int = 456, **changes: Any) -> dict[str, Any]:
    return {
        "company_id": salon_id,
        "resource": "record",
        "resource_id": resource_id,
        "status": "create",
        "data": {"id": resource_id, "client": {"name": "Анна"}, "services": [{"id": 1}]},
        **changes,
    }


def lifecycle(salon_id: int, **changes: Any) -> dict[str, Any]:
    return {
        "salon_id": salon_id,
        "application_id": 45,
        "event": "freeze",
        "partner_token": PARTNER_TOKEN,
        **changes,
    }


async def post(url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=body if raw is None else None, data=raw) as response,
    ):
        assert response.content_type == "application/json"
        return response.status, await response.json()


async def recorded(database: Database, salon_id: int) -> list[MarketplaceEvent]:
    async with database.unit_of_work() as uow:
        rows = await uow.session.scalars(
            select(MarketplaceEvent).where(MarketplaceEvent.salon_id == salon_id)
        )
        found = list(rows)
        uow.session.expunge_all()  # keep the loaded values after the read-only rollback
        return found


async def test_entity_webhooks_and_retries_are_recorded_once(ingest, salon, database) -> None:
    url = ingest.callback(salon.secret)
    batch = [record(salon.id, 1), record(salon.id, 2, resource="goods_operation", status="x")]
    status, answer = await post(url, record(salon.id, 1))
    # "spooled" only if the broker is slow to confirm: on a quiet machine it is "published".
    assert (status, answer["accepted"], answer["stored"] in ("published", "spooled")) == (
        200,
        1,
        True,
    )
    assert (await post(url, batch))[0] == 200
    assert (await post(url, record(salon.id, 1)))[0] == 200  # YClients' retry

    rows = await eventually(lambda: _at_least(database, salon.id, 2))
    assert sorted((row.resource, row.resource_id, row.status) for row in rows) == [
        ("goods_operation", "2", "x"),
        ("record", "1", "create"),
    ]
    assert rows[0].payload["data"]["client"]["name"] == "Анна"


async def test_lifecycle_events_are_recorded_without_the_token(ingest, salon, database) -> None:
    status, _ = await post(ingest.callback(), lifecycle(salon.id, event="something_new"))
    assert status == 200
    [row] = await eventually(lambda: _at_least(database, salon.id, 1))
    assert (row.kind, row.event_type) == ("lifecycle", "something_new")
    assert "partner_token" not in row.payload
    # The per-company URL takes lifecycle events too: the token is what authenticates them.
    assert (await post(ingest.callback(salon.secret), lifecycle(salon.id)))[0] == 200


async def _at_least(database: Database, salon_id: int, count: int) -> list[MarketplaceEvent]:
    rows = await recorded(database, salon_id)
    return rows if len(rows) >= count else []


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"salon_id": 1, "application_id": 45, "event": "uninstall"}, 401, "missing_partner_token"),
        (lifecycle(1, partner_token="wrong-token-wrong-token"), 403, "wrong_partner_token"),
        (lifecycle(1, partner_token=12345), 403, "wrong_partner_token"),
        (lifecycle(1, application_id=46), 403, "wrong_application"),
        ({**lifecycle(1), "salon_id": "abc"}, 422, "invalid_body"),
        (lifecycle(1, event=None), 422, "invalid_body"),
        (record(1), 401, "missing_webhook_secret"),
        ([record(1)], 401, "missing_webhook_secret"),
        ({"hello": "world"}, 422, "unrecognized_body"),
        ("just a string", 422, "invalid_body"),
    ],
)
async def test_refusals_on_the_callback_url(ingest, body, status, error) -> None:
    got_status, answer = await post(ingest.callback(), body)
    assert (got_status, answer["error"]) == (status, error)
    assert PARTNER_TOKEN not in str(answer)


async def test_refusals_on_the_company_url(ingest, salon) -> None:
    url = ingest.callback(salon.secret)
    cases = [
        (ingest.callback("not-the-secret"), record(salon.id), 403, "wrong_secret"),
        # An unknown company is answered as a wrong secret: nothing tells which ids exist.
        (url, record(salon.id + 1), 403, "wrong_secret"),
        (url, [record(salon.id), record(salon.id + 1)], 403, "wrong_secret"),
        (url, record(salon.id, status=None), 422, "invalid_body"),
        (url, record(salon.id, resource_id=1.5), 422, "invalid_body"),
        (url, [], 422, "invalid_body"),
    ]
    for target, body, status, error in cases:
        got_status, answer = await post(target, body)
        assert (got_status, answer["error"]) == (status, error), body
        assert salon.secret not in str(answer)


async def test_a_company_secret_for_another_company_is_403(ingest, salon, database) -> None:
    from shared.models import Company

    async with database.unit_of_work() as uow:
        uow.session.add(Company(id=salon.id + 7, webhook_secret="other-" + salon.secret))
        await uow.commit()
    status, answer = await post(ingest.callback(salon.secret), record(salon.id + 7))
    assert (status, answer["error"]) == (403, "wrong_secret")


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        (b"", 400, "empty_body"),
        (b"{not json", 400, "malformed_json"),
        (b'{"salon_id": NaN}', 400, "malformed_json"),
        (b"\xff\x00", 400, "malformed_json"),
        (b"[" * 3000 + b"]" * 3000, 400, "malformed_json"),
        (b'{"company_id": 1, "x": "' + b"a" * (256 * 1024) + b'"}', 413, "body_too_large"),
    ],
)
async def test_bodies_that_cannot_be_read(ingest, raw, status, error) -> None:
    assert await _status_error(ingest.callback(), raw) == (status, error)


async def test_a_chunked_body_over_the_limit_is_413(ingest) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(300):
            yield b"x" * 1024

    async with (
        aiohttp.ClientSession() as http,
        http.post(ingest.callback(), data=chunks()) as response,
    ):
        assert response.status == 413
        assert (await response.json())["error"] == "body_too_large"


async def test_other_methods_and_paths_get_json_4xx(ingest) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(ingest.callback()) as response:
            assert response.status == 405
            assert (await response.json())["error"] == "method_not_allowed"
        async with http.post(ingest.url + "/callback/other", json={}) as response:
            assert response.status == 404


async def _status_error(url: str, raw: bytes) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.post(url, data=raw) as response:
        return response.status, (await response.json())["error"]


async def test_a_new_secret_works_at_once_and_the_old_one_stops_after_the_ttl(
    ingest, salon, database
) -> None:
    from sqlalchemy import update

    from shared.models import Company

    old = ingest.callback(salon.secret)
    assert (await post(old, record(salon.id, 77)))[0] == 200  # now cached
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            update(Company)
            .where(Company.id == salon.id)
            .values(webhook_secret="new-" + salon.secret)
        )
        await uow.commit()

    async def accepted_with(secret: str) -> bool:
        return (await post(ingest.callback(secret), record(salon.id, 78)))[0] == 200

    async def refused_with(secret: str) -> bool:
        return (await post(ingest.callback(secret), record(salon.id, 79)))[0] == 403

    await eventually(lambda: accepted_with("new-" + salon.secret), timeout=5)
    await eventually(lambda: refused_with(salon.secret), timeout=10)  # cache TTL is 5 s here


async def test_a_body_sent_too_slowly_is_cut_with_408(ingest) -> None:
    host, port = ingest.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /callback/yclients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    await writer.drain()
    started = time.monotonic()
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    finally:
        writer.close()
    assert status_line.split()[1] == b"408"
    assert 1.5 < time.monotonic() - started < 5  # HTTP_BODY_TIMEOUT_SECONDS is 2 here
