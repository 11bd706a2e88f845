"""The service's settings: the shared ones plus the spool, the body limit and the secret cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from shared.settings import CommonSettings, YClientsSettings


class IngestSettings(CommonSettings, YClientsSettings):
    service_name: str = Field("webhook-ingest", alias="SERVICE_NAME")
    http_port: int = Field(8081, alias="HTTP_PORT")
    # Where accepted events wait (fsynced) while RabbitMQ is unreachable; each process takes a
    # slot directory of its own under it, so replicas may share one volume.
    spool_dir: Path = Field(Path("var/webhook-ingest/spool"), alias="WEBHOOK_SPOOL_DIR")
    # A spool this full (the broker away for long) answers 503 instead of taking more.
    spool_max_bytes: Annotated[int, Field(ge=1024 * 1024)] = Field(
        2 * 1024**3, alias="WEBHOOK_SPOOL_MAX_BYTES"
    )
    max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = Field(
        256 * 1024, alias="WEBHOOK_MAX_BODY_BYTES"
    )
    # A publish that has no confirm by then goes to the spool instead.
    publish_timeout_seconds: Annotated[float, Field(gt=0, le=8)] = Field(
        3.0, alias="WEBHOOK_PUBLISH_TIMEOUT_SECONDS"
    )
    # More publishes than this waiting for a confirm: new events go to the spool instead.
    max_publishes_in_flight: Annotated[int, Field(ge=1, le=10_000)] = Field(
        8, alias="WEBHOOK_MAX_PUBLISHES_IN_FLIGHT"
    )
    # Identical bodies within this window are one event (YClients' retries); see events.py.
    dedup_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(60, alias="WEBHOOK_DEDUP_SECONDS")
    secret_cache_ttl_seconds: Annotated[float, Field(ge=0, le=3600)] = Field(
        30.0, alias="WEBHOOK_SECRET_CACHE_TTL_SECONDS"
    )
    # Run the marketplace_events recorder in this process (off for an HTTP-only instance).
    recorder_enabled: bool = Field(True, alias="WEBHOOK_RECORDER_ENABLED")
