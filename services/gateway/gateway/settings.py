"""The gateway's settings: the common ones, the YClients partner ones and its own."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationInfo, field_validator, model_validator

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
    # Login starts (new QR codes) one connection may ask for in a minute, per instance.
    qr_requests_per_minute: int = Field(5, alias="QR_REQUESTS_PER_MINUTE", ge=1, le=1000)
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

    def origins(self) -> list[str]:
        return [origin.strip() for origin in self.allowed_origins.split(",") if origin.strip()]
