"""Baileys auth state (creds and signal keys) in ``wa_auth_keys``, encrypted with AES-GCM.

Values are opaque JSON to us (Baileys' BufferJSON). Each row is bound to its place by the
associated data (session, category, key id, key version), so a ciphertext copied to another row
does not decrypt. Every write is fenced: it commits only while this instance holds the session's
lease with the epoch it was given.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from shared.crypto import Keyring
from shared.db import Database, UnitOfWork
from shared.models import WaAuthKey, WaSession

CREDS = "creds"


class Fenced(Exception):
    """This instance no longer owns the session (another took it over, or it was released)."""


def _associated_data(session_id: uuid.UUID, category: str, key_id: str, version: str) -> bytes:
    return f"wa-auth|{session_id}|{category}|{key_id}|{version}".encode()


class AuthStore:
    def __init__(self, database: Database, keyring: Keyring, instance_id: str) -> None:
        self._database = database
        self._keyring = keyring
        self._instance_id = instance_id

    def _decrypt(self, row: WaAuthKey) -> Any:
        plaintext = self._keyring.decrypt(
            row.key_version,
            row.nonce,
            row.ciphertext,
            _associated_data(row.session_id, row.category, row.key_id, row.key_version),
        )
        return json.loads(plaintext)

    def _encrypted_row(
        self, session_id: uuid.UUID, category: str, key_id: str, value: Any
    ) -> dict[str, Any]:
        version = self._keyring.current
        plaintext = json.dumps(value, separators=(",", ":")).encode()
        _, nonce, ciphertext = self._keyring.encrypt(
            plaintext, _associated_data(session_id, category, key_id, version)
        )
        return {
            "session_id": session_id,
            "category": category,
            "key_id": key_id,
            "key_version": version,
            "nonce": nonce,
            "ciphertext": ciphertext,
        }

    async def get_creds(self, session_id: uuid.UUID) -> Any:
        found = await self.get_keys(session_id, CREDS, [CREDS])
        return found.get(CREDS)

    async def get_keys(
        self, session_id: uuid.UUID, category: str, ids: list[str]
    ) -> dict[str, Any]:
        async with self._database.unit_of_work() as uow:
            rows = (
                await uow.session.execute(
                    select(WaAuthKey).where(
                        WaAuthKey.session_id == session_id,
                        WaAuthKey.category == category,
                        WaAuthKey.key_id.in_(ids),
                    )
                )
            ).scalars()
            return {row.key_id: self._decrypt(row) for row in rows}

    async def set_state(
        self,
        session_id: uuid.UUID,
        epoch: int,
        creds: Any | None,
        keys: dict[str, dict[str, Any | None]],
    ) -> None:
        """One ``state.set`` in one transaction, or ``Fenced`` if the lease is no longer ours."""
        async with self._database.unit_of_work() as uow:
            await self._check_fence(uow, session_id, epoch)
            upserts: list[dict[str, Any]] = []
            if creds is not None:
                upserts.append(self._encrypted_row(session_id, CREDS, CREDS, creds))
            for category, values in keys.items():
                removed = [key_id for key_id, value in values.items() if value is None]
                if removed:
                    await uow.session.execute(
                        delete(WaAuthKey).where(
                            WaAuthKey.session_id == session_id,
                            WaAuthKey.category == category,
                            WaAuthKey.key_id.in_(removed),
                        )
                    )
                upserts.extend(
                    self._encrypted_row(session_id, category, key_id, value)
                    for key_id, value in values.items()
                    if value is not None
                )
            if upserts:
                statement = insert(WaAuthKey).values(upserts)
                await uow.session.execute(
                    statement.on_conflict_do_update(
                        index_elements=["session_id", "category", "key_id"],
                        set_={
                            "key_version": statement.excluded.key_version,
                            "nonce": statement.excluded.nonce,
                            "ciphertext": statement.excluded.ciphertext,
                            "updated_at": statement.excluded.updated_at,
                        },
                    )
                )
            await uow.commit()

    async def _check_fence(self, uow: UnitOfWork, session_id: uuid.UUID, epoch: int) -> None:
        # The row lock keeps a takeover (which bumps the epoch) from landing mid-write.
        # A released lease fences too: a write that arrives after the session ended (its state
        # wiped on a logout) must not bring state back.
        row = (
            await uow.session.execute(
                select(
                    WaSession.owner,
                    WaSession.epoch,
                    WaSession.lease_expires_at > func.clock_timestamp(),
                )
                .where(WaSession.id == session_id)
                .with_for_update()
            )
        ).one_or_none()
        if row is None or row[0] != self._instance_id or row[1] != epoch or not row[2]:
            raise Fenced(str(session_id))


async def wipe(uow: UnitOfWork, session_id: uuid.UUID) -> None:
    """Forget a session's whole auth state (after a logout): the next start is a new login."""
    await uow.session.execute(delete(WaAuthKey).where(WaAuthKey.session_id == session_id))
    await uow.session.execute(
        update(WaSession).where(WaSession.id == session_id).values(wiped_at=func.now())
    )
