"""The gateway's settings: the common ones, the YClients partner ones and its own."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationInfo, field_validator, model_validator

from gateway.client_address import Network, parse_networks
from gateway.limits import TEN_MINUTES, GatewayLimits
from shared.limits import Limit
from shared.settings import (
    MIN_SECRET_BYTES,
    CommonSettings,
    YClientsSettings,
    check_secret_strength,
)

# YClients accepts the activation call within an hour of the admin's consent; a token that
# outlives that window would only lead to a page that cannot finish.
ACTIVATION_WINDOW_SECONDS = 3600


class GatewaySettings(CommonSettings, YClientsSettings):
    service_name: str = Field("gateway", alias="SERVICE_NAME")
    http_port: int = Field(8080, alias="HTTP_PORT")
    jwt_secret: SecretStr = Field(alias="JWT_SECRET")
    token_ttl_seconds: int = Field(55 * 60, alias="ONBOARDING_TOKEN_TTL_SECONDS", ge=60)
    # YClients sends user_data only when "transfer user data" is on; required in production.
    require_user_data: bool = Field(True, alias="REQUIRE_USER_DATA")
    # How long a pending salon stays bound to the YClients user whose redirect opened it:
    # YClients' consent window, after which that redirect could not be activated anyway.
    claim_seconds: int = Field(ACTIVATION_WINDOW_SECONDS, alias="SALON_CLAIM_SECONDS", ge=60)
    max_salons_per_redirect: int = Field(50, alias="MAX_SALONS_PER_REDIRECT", ge=1, le=500)
    # Limits shared by every instance (gateway.limits): per YClients user and per client
    # address in ten minutes, per connection in a minute, per target number in an hour.
    redirects_per_user: int = Field(10, alias="REDIRECTS_PER_USER", ge=1)
    redirects_per_address: int = Field(30, alias="REDIRECTS_PER_ADDRESS", ge=1)
    qr_requests_per_minute: int = Field(5, alias="QR_REQUESTS_PER_MINUTE", ge=1, le=1000)
    qr_requests_per_user: int = Field(20, alias="QR_REQUESTS_PER_USER", ge=1)
    qr_requests_per_address: int = Field(40, alias="QR_REQUESTS_PER_ADDRESS", ge=1)
    pairing_codes_per_connection: int = Field(3, alias="PAIRING_CODES_PER_CONNECTION", ge=1)
    pairing_codes_per_phone: int = Field(3, alias="PAIRING_CODES_PER_PHONE", ge=1)
    unscanned_logins_per_user: int = Field(2, alias="UNSCANNED_LOGINS_PER_USER", ge=1)
    # Connections never installed are forgotten this long after the redirect (past the claim
    # window and the token's life); the sweeper looks every SWEEP_INTERVAL_SECONDS.
    abandoned_after_seconds: int = Field(2 * 3600, alias="ABANDONED_AFTER_SECONDS", ge=3600)
    sweep_interval_seconds: float = Field(600.0, alias="SWEEP_INTERVAL_SECONDS", gt=0)
    # Proxies whose X-Forwarded-For is believed (the compose network's and loopback).
    trusted_proxies: str = Field(
        "127.0.0.1/32,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16", alias="TRUSTED_PROXIES"
    )
    allowed_origins: str = Field("", alias="ALLOWED_ORIGINS")
    frame_ancestors: str = Field("'self' https://*.yclients.com", alias="FRAME_ANCESTORS")
    yclients_return_url: str = Field("https://yclients.com/appstore/", alias="YCLIENTS_RETURN_URL")
    socketio_channel: str = Field("aiadmin-socketio", alias="SOCKETIO_CHANNEL")
    # The WhatsApp emulator's control URL: turns on the offline demo's scan button.
    demo_phone_url: AnyHttpUrl | None = Field(None, alias="DEMO_PHONE_URL")

    @field_validator("jwt_secret")
    @classmethod
    def _strong_jwt_secret(cls, value: SecretStr) -> SecretStr:
        return check_secret_strength("JWT_SECRET", value, MIN_SECRET_BYTES)

    @field_validator("token_ttl_seconds")
    @classmethod
    def _within_activation_window(cls, value: int) -> int:
        if value > ACTIVATION_WINDOW_SECONDS:
            raise ValueError("must not exceed 3600 (YClients' 1-hour activation window)")
        return value

    @field_validator("demo_phone_url")
    @classmethod
    def _no_demo_in_production(
        cls, value: AnyHttpUrl | None, info: ValidationInfo
    ) -> AnyHttpUrl | None:
        if value is not None and info.data.get("environment") == "production":
            raise ValueError("the demo phone must not be set in production (APP_ENV=production)")
        return value

    @model_validator(mode="after")
    def _no_wildcard_origin_in_production(self) -> GatewaySettings:
        if self.environment == "production" and "*" in self.origins():
            raise ValueError("ALLOWED_ORIGINS must list origins, not '*', in production")
        return self

    @field_validator("require_user_data")
    @classmethod
    def _user_data_in_production(cls, value: bool, info: ValidationInfo) -> bool:
        # Without it a redirect says nothing of who is connecting: any salon id could be claimed.
        if not value and info.data.get("environment") == "production":
            raise ValueError(
                "must be true in production: turn on «Передавать данные пользователя» in the "
                "YClients developer cabinet"
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    def trusted_networks(self) -> list[Network]:
        return parse_networks(self.trusted_proxies)

    def limits(self) -> GatewayLimits:
        return GatewayLimits(
            redirects_per_user=Limit("redirect:user", self.redirects_per_user, TEN_MINUTES),
            redirects_per_address=Limit("redirect:addr", self.redirects_per_address, TEN_MINUTES),
            qr_per_connection=Limit("qr:conn", self.qr_requests_per_minute, 60),
            qr_per_user=Limit("qr:user", self.qr_requests_per_user, TEN_MINUTES),
            qr_per_address=Limit("qr:addr", self.qr_requests_per_address, TEN_MINUTES),
            pairing_codes_per_connection=Limit(
                "pairing:conn", self.pairing_codes_per_connection, TEN_MINUTES
            ),
            pairing_codes_per_phone=Limit("pairing:phone", self.pairing_codes_per_phone, 3600),
            unscanned_logins_per_user=self.unscanned_logins_per_user,
        )

    def origins(self) -> list[str]:
        return [origin.strip() for origin in self.allowed_origins.split(",") if origin.strip()]
