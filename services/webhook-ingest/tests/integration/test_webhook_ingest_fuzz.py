"""Hypothesis throws random JSON, near-valid bodies, odd types and sizes at the running service:
every answer is 2xx or a JSON 4xx, never a 5xx."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkit.environment import TEST_SECRETS

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
field_values = st.one_of(
    json_values,
    st.integers(min_value=1, max_value=2**63 - 1),
    st.sampled_from(["record", "client", "create", "uninstall", "", "a.b#*", "\u0000", "12"]),
)
entity_like = st.fixed_dictionaries(
    {},
    optional={
        "company_id": field_values,
        "resource": field_values,
        "resource_id": field_values,
        "status": field_values,
        "data": field_values,
    },
)
lifecycle_like = st.fixed_dictionaries(
    {},
    optional={
        "salon_id": field_values,
        "application_id": st.one_of(st.just(45), field_values),
        "event": field_values,
        "partner_token": st.one_of(st.just(TEST_SECRETS["YCLIENTS_PARTNER_TOKEN"]), field_values),
    },
)
bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    entity_like.map(lambda value: json.dumps(value).encode()),
    st.lists(entity_like, max_size=4).map(lambda value: json.dumps(value).encode()),
    lifecycle_like.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
    st.integers(min_value=0, max_value=300_000).map(lambda size: b'{"a":"' + b"x" * size + b'"}'),
)


def _post(url: str, body: bytes) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_no_body_gets_a_5xx(ingest, salon) -> None:
    urls = [ingest.callback(), ingest.callback(salon.secret), ingest.callback("x" * 40)]

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies, which=st.integers(min_value=0, max_value=2))
    def check(body: bytes, which: int) -> None:
        status, answer = _post(urls[which], body)
        assert status < 500, (status, answer, body[:300])
        if status >= 400:
            assert {"error", "message"} <= set(answer) <= {"error", "message", "detail"}

    check()
