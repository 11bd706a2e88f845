"""The offline demo's phone is never on in production."""

from __future__ import annotations

import pytest
from gateway.settings import GatewaySettings
from pydantic import ValidationError

GOOD = {
    "JWT_SECRET": "9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddccbbaa99887766",
    "YCLIENTS_PARTNER_TOKEN": "partner-9a8b7c6d5e4f3a2b1c0d",
    "YCLIENTS_APP_ID": 45,
}


def test_demo_phone_is_refused_in_production_naming_the_variable():
    with pytest.raises(ValidationError) as refused:
        GatewaySettings(**GOOD, APP_ENV="production", DEMO_PHONE_URL="http://127.0.0.1:8092")
    [error] = refused.value.errors()
    assert error["loc"] == ("DEMO_PHONE_URL",)
    assert "production" in error["msg"]


@pytest.mark.parametrize("environment", ["development", "test"])
def test_demo_phone_outside_production(environment):
    settings = GatewaySettings(**GOOD, APP_ENV=environment, DEMO_PHONE_URL="http://127.0.0.1:8092")
    assert str(settings.demo_phone_url) == "http://127.0.0.1:8092/"


def test_demo_is_off_by_default():
    assert GatewaySettings(**GOOD).demo_phone_url is None
