"""While the broker is away the spool takes events up to WEBHOOK_SPOOL_MAX_BYTES; past that the
answer is a 503 (YClients retries) and nothing more is written, until forwarding frees room."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from webhook_ingest.delivery import Delivery
from webhook_ingest.events import entity_message
from webhook_ingest.parsing import parse_entities
from webhook_ingest.spool import claim_slot

from shared.bus import Publisher, connect
from shared.refusals import Refusal
from testkit.environment import TestEnvironment

LIMIT = 1024 * 1024  # the smallest the setting allows


async def test_a_full_spool_refuses_with_503_until_forwarding_frees_room(
    test_env: TestEnvironment, tmp_path: Path
) -> None:
    body = {"company_id": 1, "resource": "record", "resource_id": 1, "status": "create"}
    body["data"] = {"comment": "x" * 4000}
    message = entity_message(parse_entities(body)[0], body, datetime.now(UTC))
    connection = await connect(test_env.amqp_url)
    spool = claim_slot(tmp_path)
    try:
        delivery = Delivery(
            await Publisher.open(connection),
            broker_up=lambda: False,  # the broker is away: every event goes to the spool
            spool=spool,
            publish_timeout=3.0,
            max_in_flight=8,
            spool_max_bytes=LIMIT,
        )
        while spool.pending_bytes() < LIMIT:
            assert await delivery.deliver([message]) == "spooled"
        full = spool.pending_bytes()
        with pytest.raises(Refusal) as refusal:
            await delivery.deliver([message])
        assert (refusal.value.status, refusal.value.code) == (503, "busy")
        assert spool.pending_bytes() == full  # nothing written for the refused event

        await spool.seal()
        for segment in spool.sealed():
            spool.forwarded(segment)  # what the forwarder does once the broker confirmed it all
        assert spool.pending_bytes() == 0
        assert await delivery.deliver([message]) == "spooled"
    finally:
        spool.close()
        await connection.close()
