"""What webhook-ingest writes to its log about refused requests never holds a webhook secret."""

from __future__ import annotations

import aiohttp

from shared.crypto import new_secret


async def test_refused_requests_leave_no_webhook_secret_in_the_log(ingest, salon) -> None:
    stranger = new_secret()
    refused = [
        # (url secret, body): bad JSON, invalid body, another company's secret, unknown company
        (salon.secret, b"{not json"),
        (salon.secret, b'{"company_id": "x", "resource": "record"}'),
        (
            stranger,
            b'{"company_id": %d, "resource": "record", "resource_id": 1, "status": "create"}'
            % salon.id,
        ),
        (
            salon.secret,
            b'{"company_id": 7, "resource": "record", "resource_id": 1, "status": "create"}',
        ),
    ]
    async with aiohttp.ClientSession() as http:
        for secret, body in refused:
            async with http.post(ingest.callback(secret), data=body) as response:
                assert 400 <= response.status < 500
        async with http.get(ingest.callback(salon.secret)) as response:
            assert response.status == 405

    logs = ingest.process.logs()
    assert "webhook refused" in logs
    assert salon.secret not in logs
    assert stranger not in logs
