"""The credentials YClients gets for a salon: the webhook URL's secret and the api_key.

The api_key is derived from the webhook secret with the partner token (HMAC-SHA256), so an
install call repeated after a crash sends the same key as the first one, and whichever call
YClients accepted, the hash we keep matches. Only the hash is stored; the database alone does
not reveal a key.
"""

from __future__ import annotations

from shared.crypto import hash_api_key, hmac_sha256_hex, new_secret


def new_webhook_secret() -> str:
    return new_secret(32)


def api_key_for(partner_token: str, webhook_secret: str) -> str:
    return hmac_sha256_hex(partner_token, f"api-key:{webhook_secret}".encode())


def api_key_hash_for(partner_token: str, webhook_secret: str) -> str:
    return hash_api_key(api_key_for(partner_token, webhook_secret))
