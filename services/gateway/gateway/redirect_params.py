"""Reading what YClients puts in the redirect URL: salon ids in any of their forms, and
``user_data`` with its signature. Pure functions: no I/O, easy to test."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.crypto import constant_time_equals, hmac_sha256_hex

_SALON_KEY = re.compile(r"^salon_ids?(\[\d*\])?$")
_DIGITS = re.compile(r"^\d{1,18}$")
_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class BadRedirect(ValueError):
    """A redirect we cannot act on. ``reason`` is a stable code, ``status`` the HTTP status."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def salon_ids_from(query: Iterable[tuple[str, str]], limit: int) -> list[int]:
    """Every salon id in ``salon_id``, ``salon_ids``, ``salon_ids[]`` or ``salon_ids[N]``,
    deduplicated in the order received."""
    found: list[int] = []
    for key, value in query:
        if key != "salon_id" and not _SALON_KEY.match(key):
            continue
        text = value.strip()
        if not _DIGITS.match(text) or int(text) == 0:
            raise BadRedirect("bad_salon_id")
        salon_id = int(text)
        if salon_id not in found:
            found.append(salon_id)
    if not found:
        raise BadRedirect("no_salon_id")
    if len(found) > limit:
        raise BadRedirect("too_many_salons")
    return found


def decode_user_data(raw: str) -> bytes:
    """The JSON bytes of ``user_data``: URL-safe or standard base64, with or without padding,
    with ``+`` turned into a space on the way; or the JSON itself, sent raw."""
    text = raw.strip()
    if text.startswith("{"):
        return text.encode("utf-8")
    standard = text.replace(" ", "+").replace("-", "+").replace("_", "/").rstrip("=")
    padded = standard + "=" * (-len(standard) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise BadRedirect("user_data_not_base64") from None


def signature_matches(decoded: bytes, signature: str, partner_token: str) -> bool:
    """``signature`` is the lowercase hex HMAC-SHA256 of the decoded bytes (compared in constant
    time; upper-case hex is accepted too)."""
    candidate = signature.strip()
    if not _HEX_SHA256.match(candidate):
        return False
    return constant_time_equals(hmac_sha256_hex(partner_token, decoded), candidate.lower())


@dataclass(frozen=True)
class MarketplaceUser:
    """Who clicked "Подключить", as YClients told us. Every field is optional."""

    id: str | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    is_approved: bool | None = None
    salon_name: str | None = None


def parse_user(decoded: bytes) -> MarketplaceUser:
    try:
        data = json.loads(decoded.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRedirect("user_data_not_json") from None
    if not isinstance(data, dict):
        raise BadRedirect("user_data_not_json")
    user_id = data.get("id", data.get("user_id"))
    return MarketplaceUser(
        id=_text(user_id, 64),
        name=_text(data.get("name"), 500),
        phone=_text(re.sub(r"\D", "", str(data.get("phone") or "")), 32),
        email=_text(data.get("email"), 320),
        is_approved=_flag(data.get("is_approved")),
        salon_name=_text(data.get("salon_name"), 500),
    )


def verified_user(
    user_data: str | None, signature: str | None, partner_token: str, required: bool
) -> MarketplaceUser | None:
    """The user from a signed ``user_data``; None when it is absent and not required."""
    if not user_data:
        if required:
            raise BadRedirect("user_data_missing")
        if signature:
            raise BadRedirect("signature_without_user_data")
        return None
    if not signature:
        raise BadRedirect("signature_missing")
    decoded = decode_user_data(user_data)
    if not signature_matches(decoded, signature, partner_token):
        raise BadRedirect("bad_signature", status=403)
    return parse_user(decoded)


# Bidi embeddings, overrides and isolates, directional marks and zero-width characters: in a
# name they reorder or hide what is shown, so that one name can pass for another.
_INVISIBLE = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0x200B, 0x2010), 0x061C, 0x2060, 0xFEFF]
)


def _text(value: Any, limit: int) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).translate(_INVISIBLE).strip()
    return text[:limit] or None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "0", "false"):
        return value.strip().lower() in ("1", "true")
    return None
