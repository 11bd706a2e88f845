"""The URL YClients opens after "Подключить": salon ids plus `user_data` and its signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from yclients_sandbox.config import IdsForm, UserConfig


def user_payload(user: UserConfig, salon_name: str) -> dict[str, object]:
    return {
        "id": user.id,
        "name": user.name,
        "phone": user.phone,
        "email": user.email,
        "is_approved": user.is_approved,
        "avatar": user.avatar,
        "salon_name": salon_name,
    }


def user_data_bytes(user: Mapping[str, object]) -> bytes:
    """Compact JSON with Cyrillic left as raw UTF-8, as YClients serialises it."""
    return json.dumps(user, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign_user_data(decoded: bytes, partner_token: str) -> str:
    """Lowercase hex HMAC-SHA256 of the decoded JSON bytes, keyed with the partner token."""
    return hmac.new(partner_token.encode("utf-8"), decoded, hashlib.sha256).hexdigest()


def salon_id_params(salon_ids: Sequence[int], ids_form: IdsForm) -> list[tuple[str, str]]:
    if not salon_ids:
        raise ValueError("at least one salon id is needed")
    if ids_form == "auto":
        ids_form = "single" if len(salon_ids) == 1 else "brackets"
    if ids_form == "single":
        if len(salon_ids) != 1:
            raise ValueError("the salon_id form carries exactly one salon")
        return [("salon_id", str(salon_ids[0]))]
    if ids_form == "brackets":
        return [("salon_ids[]", str(salon_id)) for salon_id in salon_ids]
    return [(f"salon_ids[{index}]", str(salon_id)) for index, salon_id in enumerate(salon_ids)]


def build_redirect_url(
    redirect_url: str,
    salon_ids: Sequence[int],
    user: Mapping[str, object],
    partner_token: str,
    ids_form: IdsForm = "auto",
) -> str:
    """The Registration Redirect URL with `salon_id`/`salon_ids[]`, `user_data`, `user_data_sign`.

    `user_data` is URL-safe base64 with `=` padding of the JSON; the brackets of the salon ids are
    written as is, the values percent-encoded.
    """
    decoded = user_data_bytes(user)
    params = [
        *salon_id_params(salon_ids, ids_form),
        ("user_data", base64.urlsafe_b64encode(decoded).decode("ascii")),
        ("user_data_sign", sign_user_data(decoded, partner_token)),
    ]
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in params)
    separator = "&" if "?" in redirect_url else "?"
    return f"{redirect_url}{separator}{query}"
