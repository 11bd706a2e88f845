"""The redirect URL is built, encoded and signed the way our gateway has to verify it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qsl, urlsplit

import pytest
from yclients_sandbox.config import UserConfig
from yclients_sandbox.redirect import build_redirect_url, user_payload

TOKEN = "partner-token"
BASE = "http://127.0.0.1:8080/auth/yclients/redirect"


def decode_and_verify(url: str, token: str = TOKEN) -> tuple[list[tuple[str, str]], dict]:
    params = parse_qsl(urlsplit(url).query)
    values = dict(params)
    decoded = base64.urlsafe_b64decode(values["user_data"])
    expected = hmac.new(token.encode(), decoded, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, values["user_data_sign"])
    return params, json.loads(decoded.decode("utf-8"))


def test_one_salon_uses_salon_id_and_keeps_cyrillic_raw():
    user = user_payload(UserConfig(), "Салон на Тверской")

    url = build_redirect_url(BASE, [101], user, TOKEN)

    params, decoded_user = decode_and_verify(url)
    assert [pair for pair in params if pair[0].startswith("salon")] == [("salon_id", "101")]
    assert decoded_user == user
    assert decoded_user["name"] == "Анна Смирнова"
    raw = base64.urlsafe_b64decode(dict(params)["user_data"])
    assert "Анна Смирнова".encode() in raw  # UTF-8 bytes, not \\u escapes
    assert set(decoded_user) == {
        "id",
        "name",
        "phone",
        "email",
        "is_approved",
        "avatar",
        "salon_name",
    }
    assert decoded_user["phone"].isdigit()


def test_several_salons_use_brackets_written_as_is():
    url = build_redirect_url(BASE, [101, 102], user_payload(UserConfig(), "Салон"), TOKEN)

    assert "salon_ids[]=101&salon_ids[]=102&" in url
    params, _ = decode_and_verify(url)
    assert [value for name, value in params if name == "salon_ids[]"] == ["101", "102"]


def test_indexed_form_on_request():
    url = build_redirect_url(BASE, [101, 102], {"id": 1}, TOKEN, ids_form="indexed")

    assert "salon_ids[0]=101&salon_ids[1]=102&" in url


def test_user_data_is_url_safe_base64_with_padding():
    user = {"name": "Ёлка ???>>>", "salon_name": "Салон «Ёж»"}  # bytes that give + and / in base64
    url = build_redirect_url(BASE, [1], user, TOKEN)
    encoded = dict(parse_qsl(urlsplit(url).query))["user_data"]

    assert "+" not in encoded
    assert "/" not in encoded
    assert len(encoded) % 4 == 0
    decode_and_verify(url)


def test_signature_is_keyed_with_the_partner_token():
    url = build_redirect_url(BASE, [1], {"id": 1}, TOKEN)

    with pytest.raises(AssertionError):
        decode_and_verify(url, token="another-token")


def test_single_form_refuses_several_salons():
    with pytest.raises(ValueError, match="exactly one"):
        build_redirect_url(BASE, [1, 2], {"id": 1}, TOKEN, ids_form="single")


def test_existing_query_of_the_redirect_url_is_kept():
    url = build_redirect_url(f"{BASE}?from=yclients", [1], {"id": 1}, TOKEN)

    assert url.startswith(f"{BASE}?from=yclients&salon_id=1&")
