"""The spool on a real directory: durable appends, sealing, torn lines skipped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from webhook_ingest.events import entity_message
from webhook_ingest.parsing import parse_entities
from webhook_ingest.spool import CURRENT, Spool, SpoolBusy, claim_slot, orphaned_slots, read_segment

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


async def test_processes_sharing_a_root_each_take_their_own_slot(tmp_path: Path) -> None:
    first, second = claim_slot(tmp_path), claim_slot(tmp_path)
    assert (first.directory.name, second.directory.name) == ("slot-0", "slot-1")
    with pytest.raises(SpoolBusy):
        Spool(first.directory).open()  # held while its owner lives (an flock, across processes)
    first.close()
    third = claim_slot(tmp_path)
    assert third.directory.name == "slot-0"  # free again once its owner is gone
    second.close()
    third.close()


async def test_only_slots_left_with_events_by_a_gone_process_are_adopted(tmp_path: Path) -> None:
    own, alive, gone = claim_slot(tmp_path), claim_slot(tmp_path), claim_slot(tmp_path)
    empty_gone = claim_slot(tmp_path)
    for spool in (own, alive, gone):
        await spool.append([_message(1)])
    gone.close()
    empty_gone.close()
    adopted = [
        (spool.directory.name, spool.has_pending()) for spool in orphaned_slots(tmp_path, own)
    ]
    assert adopted == [("slot-2", True)]
    assert claim_slot(tmp_path).directory.name == "slot-2"  # the adopter let go of it again
    own.close()
    alive.close()
