"""The gateway refuses to start with settings that would be unsafe."""

from __future__ import annotations

from typing import Any

import pytest
from gateway.settings import GatewaySettings
from pydantic import ValidationError

GOOD: dict[str, Any] = {
    "JWT_SECRET": "9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddccbbaa99887766",
    "YCLIENTS_PARTNER_TOKEN": "partner-9a8b7c6d5e4f3a2b1c0d",
    "YCLIENTS_APP_ID": 45,
}


def test_defaults_fit_the_activation_window_and_yclients_framing():
    settings = GatewaySettings(**GOOD)
    assert settings.token_ttl_seconds == 55 * 60
    assert settings.require_user_data is True
    assert settings.frame_ancestors == "'self' https://*.yclients.com"
    assert settings.yclients_return_url == "https://yclients.com/appstore/"


@pytest.mark.parametrize(
    "overrides",
    [
        {"JWT_SECRET": "short"},
        {"JWT_SECRET": "changeme-changeme-changeme-changeme-123"},
        {"ONBOARDING_TOKEN_TTL_SECONDS": 3601},
        {"APP_ENV": "production", "ALLOWED_ORIGINS": "*"},
        {"APP_ENV": "production", "ALLOWED_ORIGINS": "https://ai-admin.app, *"},
        {"APP_ENV": "production", "REQUIRE_USER_DATA": "false"},
    ],
    ids=[
        "short-secret",
        "placeholder-secret",
        "ttl-past-window",
        "wildcard",
        "wildcard-in-list",
        "no-user-data-in-production",
    ],
)
def test_unsafe_settings_are_refused(overrides):
    with pytest.raises(ValidationError):
        GatewaySettings(**{**GOOD, **overrides})


def test_origins_are_a_comma_list():
    settings = GatewaySettings(
        **GOOD, APP_ENV="production", ALLOWED_ORIGINS="https://a.example, https://b.example"
    )
    assert settings.origins() == ["https://a.example", "https://b.example"]


def test_pages_may_open_websockets_only_to_their_own_origins():
    from gateway.security import connect_sources

    assert connect_sources(["https://ai-admin.app", "http://localhost:8080"]) == (
        "'self' wss://ai-admin.app ws://localhost:8080"
    )
    assert connect_sources([]) == "'self'"
