"""The spool on a real directory: durable appends, sealing, torn lines skipped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from webhook_ingest.events import entity_message
from webhook_ingest.parsing import parse_entities
from webhook_ingest.spool import CURRENT, Spool, read_segment

from shared.bus import SerializedMessage


def _message(n: int) -> SerializedMessage:
    body = {"company_id": 1, "resource": "record", "resource_id": n, "status": "create"}
    return entity_message(parse_entities(body)[0], body, datetime.now(UTC))


async def test_concurrent_appends_share_writes_and_read_back_in_full(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    messages = [_message(n) for n in range(200)]
    await asyncio.gather(*(spool.append([message]) for message in messages))
    assert spool.has_pending()
    await spool.seal()
    [segment] = spool.sealed()
    # Read back as they were written: every property the publish needs, the same envelope.
    assert {m.message_id: m for m in read_segment(segment)} == {m.message_id: m for m in messages}
    assert (tmp_path / CURRENT).stat().st_size == 0
    await spool.seal()  # nothing new: no empty segment
    assert len(spool.sealed()) == 1
    spool.close()


async def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    await spool.append([_message(1), _message(2)])
    spool.close()
    with (tmp_path / CURRENT).open("ab") as current:
        current.write(b'{"routing_key": "yclients.entity.rec')
    reopened = Spool(tmp_path)
    reopened.open()  # seals what it finds, so the next line does not follow the torn one
    await reopened.append([_message(3)])
    await reopened.seal()
    first, second = reopened.sealed()
    assert len(list(read_segment(first))) == 2
    assert len(list(read_segment(second))) == 1
    reopened.close()
