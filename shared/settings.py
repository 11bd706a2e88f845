"""Settings read from the environment, validated once at start.

Each service builds one settings object in its ``__main__`` and passes it down; nothing here
is created at import time. Required secrets have no default, and weak or placeholder values
are refused so that a misconfigured service stops at once with a message naming the variable.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = ("changeme", "change-me", "secret", "example", "ваш_", "your_", "xxx", "todo")

MIN_SECRET_BYTES = 32


def check_secret_strength(name: str, value: SecretStr, min_bytes: int) -> SecretStr:
    raw = value.get_secret_value()
    if len(raw.encode()) < min_bytes:
        raise ValueError(f"{name} must be at least {min_bytes} bytes long")
    lowered = raw.lower()
    if any(marker in lowered for marker in _PLACEHOLDERS) or len(set(raw)) < 8:
        raise ValueError(
            f"{name} looks like a placeholder; generate one with `openssl rand -hex 32`"
        )
    return value


class CommonSettings(BaseSettings):
    """What every service needs: where the broker and database are, how to log."""

    # An empty variable counts as unset (compose passes ${VAR:-} for what .env leaves out).
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, env_ignore_empty=True
    )

    environment: Literal["development", "test", "production"] = Field(
        "development", alias="APP_ENV"
    )
    service_name: str = Field("service", alias="SERVICE_NAME")
    # This process in logs, leases and metrics; host name and process id unless set.
    instance_id: str = Field("", alias="INSTANCE_ID", validate_default=True)
    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/aiadmin", alias="DATABASE_URL"
    )
    amqp_url: str = Field("amqp://guest:guest@127.0.0.1:5672/aiadmin", alias="AMQP_URL")
    log_format: Literal["json", "console", "auto"] = Field("auto", alias="LOG_FORMAT")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    http_host: str = Field("127.0.0.1", alias="HTTP_HOST")
    http_port: int = Field(8080, alias="HTTP_PORT")
    # Several processes of one service on one host may share the port; the kernel spreads
    # connections among them.
    http_reuse_port: bool = Field(False, alias="HTTP_REUSE_PORT")
    prefetch: Annotated[int, Field(ge=1, le=1000)] = Field(32, alias="AMQP_PREFETCH")
    shutdown_grace_seconds: float = Field(10.0, alias="SHUTDOWN_GRACE_SECONDS")
    # A request's whole body must arrive within this (slow clients are cut, 408).
    body_timeout_seconds: float = Field(10.0, gt=0, alias="HTTP_BODY_TIMEOUT_SECONDS")

    @field_validator("instance_id")
    @classmethod
    def _default_instance(cls, value: str) -> str:
        return value or f"{socket.gethostname()}-{os.getpid()}"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return value


class YClientsSettings(BaseSettings):
    """The partner side of YClients: who we are to them and where they are."""

    # An empty variable counts as unset (compose passes ${VAR:-} for what .env leaves out).
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, env_ignore_empty=True
    )

    yclients_partner_token: SecretStr = Field(alias="YCLIENTS_PARTNER_TOKEN")
    yclients_application_id: int = Field(alias="YCLIENTS_APP_ID")
    yclients_base_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.yclients.com"), alias="YCLIENTS_BASE_URL"
    )
    # This process's share of YClients' limit (5/s and 200/min per IP): with N processes calling
    # YClients behind one address, give each 3/N. See shared.yclients.RateLimiter.
    yclients_rate_limit_per_second: Annotated[float, Field(gt=0, le=5)] = Field(
        3.0, alias="YCLIENTS_RATE_LIMIT_PER_SECOND"
    )

    @field_validator("yclients_partner_token")
    @classmethod
    def _token_present(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().strip()) < 16:
            raise ValueError("YCLIENTS_PARTNER_TOKEN is missing or too short")
        return value


Settings = TypeVar("Settings", bound=BaseSettings)


class ConfigurationError(SystemExit):
    """Raised (and shown without a traceback) when the environment cannot run a service."""


def load_settings(cls: type[Settings], **overrides: Any) -> Settings:
    """Build settings from the environment, or exit naming every bad variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            alias = _alias_of(cls, field)
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "is required but not set"
            lines.append(f"  {alias}: {message}")
        text = "Configuration error:\n" + "\n".join(lines)
        print(text, file=sys.stderr)
        raise ConfigurationError(2) from None


def _alias_of(cls: type[BaseSettings], field: str) -> str:
    info = cls.model_fields.get(field)
    if info is not None and info.alias:
        return info.alias
    for info in cls.model_fields.values():
        if info.alias == field:
            return field
    return field.upper()
