"""Secrets handling: AES-GCM for state at rest, hashes for keys we hand out, HMAC checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret (api keys, webhook secrets)."""
    return secrets.token_urlsafe(nbytes)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)


def hmac_sha256_hex(key: str, data: bytes) -> str:
    return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()


class Keyring:
    """AES-256-GCM keys by version id; the first one encrypts, all of them decrypt.

    Built from ``WA_STATE_KEYS="v2:<base64 32 bytes>,v1:<base64 32 bytes>"`` so a key can be
    rotated: add a new first entry, re-encrypt at leisure, then drop the old one.
    """

    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        for version, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"key {version} must be 32 bytes")
        if current not in keys:
            raise ValueError("the current key version is not in the keyring")
        self._ciphers = {version: AESGCM(key) for version, key in keys.items()}
        self.current = current

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for item in spec.split(","):
            version, _, encoded = item.strip().partition(":")
            if not version or not encoded:
                raise ValueError("expected entries of the form <version>:<base64 key>")
            keys[version] = base64.b64decode(encoded, validate=True)
            order.append(version)
        if not order:
            raise ValueError("no keys given")
        return cls(keys, order[0])

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> tuple[str, bytes, bytes]:
        """Returns (key version, nonce, ciphertext). The associated data binds it to its place."""
        nonce = os.urandom(12)
        return (
            self.current,
            nonce,
            self._ciphers[self.current].encrypt(nonce, plaintext, associated_data),
        )

    def decrypt(
        self, version: str, nonce: bytes, ciphertext: bytes, associated_data: bytes
    ) -> bytes:
        return self._ciphers[version].decrypt(nonce, ciphertext, associated_data)
