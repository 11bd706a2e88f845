"""The activation service's settings: the shared ones, where YClients reaches us, the window."""

from __future__ import annotations

from typing import Annotated

from pydantic import AnyHttpUrl, Field

from shared.settings import CommonSettings, YClientsSettings


class ActivationSettings(CommonSettings, YClientsSettings):
    service_name: str = Field("activation", alias="SERVICE_NAME")
    http_port: int = Field(8083, alias="HTTP_PORT")
    # Each message in hand uses two database connections (its own transaction and the salon's)
    # and YClients takes a few calls a second: a handful at a time is plenty.
    prefetch: Annotated[int, Field(ge=1, le=64)] = Field(8, alias="AMQP_PREFETCH")
    # How YClients reaches webhook-ingest: the per-salon webhook URL is built on it.
    public_base_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8081"), alias="PUBLIC_BASE_URL"
    )
    # YClients accepts the install call this long after the admin's consent.
    activation_window_seconds: Annotated[float, Field(gt=0)] = Field(
        3600.0, alias="ACTIVATION_WINDOW_SECONDS"
    )

    @property
    def database_pool_size(self) -> int:
        """Two connections per message in hand, plus the outbox relay and the health check."""
        return 2 * self.prefetch + 2

    def webhook_url(self, webhook_secret: str) -> str:
        return f"{str(self.public_base_url).rstrip('/')}/callback/yclients/{webhook_secret}"
