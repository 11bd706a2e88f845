"""The auth store against the real database: encrypted, bound to its place, fenced."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select, update
from wa_session.auth_store import AuthStore, Fenced

from shared.crypto import Keyring
from shared.models import Connection, WaAuthKey, WaSession

KEYRING = Keyring.parse("k1:" + "qUv0Q6dXq3pC2mJd9n7kPz4R8wYt1eH5sB2cV6xN0aE=")
CREDS = {"noiseKey": {"private": {"type": "Buffer", "data": "c2VjcmV0LW5vaXNl"}}, "me": None}


async def leased_session(database, owner: str, epoch: int) -> uuid.UUID:
    session_id = uuid.uuid4()
    async with database.unit_of_work() as uow:
        uow.session.add(Connection(id=session_id, consented_at=datetime.now(UTC)))
        await uow.session.flush()
        uow.session.add(
            WaSession(
                id=session_id,
                owner=owner,
                epoch=epoch,
                desired_running=False,  # not for a running wa-session to claim
                lease_expires_at=datetime.now(UTC) + timedelta(seconds=30),
            )
        )
        await uow.commit()
    return session_id


async def test_state_round_trips_and_deletes(database):
    store = AuthStore(database, KEYRING, "me")
    session_id = await leased_session(database, "me", 1)
    await store.set_state(session_id, 1, CREDS, {"pre-key": {"1": {"k": "a"}, "2": {"k": "b"}}})
    await store.set_state(session_id, 1, None, {"pre-key": {"1": None}})

    assert await store.get_creds(session_id) == CREDS
    assert await store.get_keys(session_id, "pre-key", ["1", "2", "3"]) == {"2": {"k": "b"}}
    async with database.unit_of_work() as uow:
        stored = (await uow.session.execute(select(WaAuthKey.ciphertext))).scalars().all()
    assert stored and all(b"secret" not in c and b"noiseKey" not in c for c in stored)


async def test_writes_of_a_fenced_owner_are_refused(database):
    store = AuthStore(database, KEYRING, "me")
    session_id = await leased_session(database, "me", 1)
    # Another instance took the session over: the epoch moved on.
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            update(WaSession).where(WaSession.id == session_id).values(owner="other", epoch=2)
        )
        await uow.commit()
    with pytest.raises(Fenced):
        await store.set_state(session_id, 1, CREDS, {})
    with pytest.raises(Fenced):
        await AuthStore(database, KEYRING, "other").set_state(session_id, 1, CREDS, {})
    assert await store.get_creds(session_id) is None


async def test_a_ciphertext_moved_to_another_place_does_not_decrypt(database):
    store = AuthStore(database, KEYRING, "me")
    session_id = await leased_session(database, "me", 1)
    await store.set_state(session_id, 1, None, {"session": {"a": {"k": "a"}, "b": {"k": "b"}}})
    async with database.unit_of_work() as uow:
        moved = await uow.session.get(WaAuthKey, (session_id, "session", "a"))
        await uow.session.execute(
            update(WaAuthKey)
            .where(WaAuthKey.session_id == session_id, WaAuthKey.key_id == "b")
            .values(nonce=moved.nonce, ciphertext=moved.ciphertext)
        )
        await uow.commit()
    with pytest.raises(InvalidTag):
        await store.get_keys(session_id, "session", ["b"])
