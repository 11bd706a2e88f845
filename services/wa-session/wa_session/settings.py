"""wa-session's settings, read from the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from shared.crypto import Keyring
from shared.settings import CommonSettings


class WaSessionSettings(CommonSettings):
    service_name: str = Field("wa-session", alias="SERVICE_NAME")
    http_port: int = Field(8082, alias="HTTP_PORT")

    state_keys: SecretStr = Field(alias="WA_STATE_KEYS")
    node_binary: str = Field("node", alias="WA_NODE_BINARY")
    bridge_path: str = Field("services/wa-session/bridge/src/main.mjs", alias="WA_BRIDGE_PATH")
    # Only tests and the offline demo point these at the WhatsApp emulator.
    websocket_url: str | None = Field(None, alias="WA_WEBSOCKET_URL")
    trust_emulator_root_key: SecretStr | None = Field(None, alias="WA_TRUST_EMULATOR_ROOT_KEY")
    qr_timeout_ms: int | None = Field(None, ge=1000, alias="WA_QR_TIMEOUT_MS")
    bridge_request_timeout_seconds: float = Field(20.0, gt=0, alias="WA_BRIDGE_REQUEST_TIMEOUT")

    lease_ttl_seconds: float = Field(15.0, ge=2, alias="WA_LEASE_TTL_SECONDS")
    lease_poll_seconds: float = Field(1.0, gt=0, alias="WA_LEASE_POLL_SECONDS")
    max_sessions: int = Field(500, ge=1, alias="WA_MAX_SESSIONS")
    # Of those, logins not linked yet (a QR or pairing code waiting): they never take the place
    # of linked ones, which are claimed first.
    max_unscanned_sessions: int = Field(100, ge=1, alias="WA_MAX_UNSCANNED_SESSIONS")

    @field_validator("state_keys")
    @classmethod
    def _keys_parse(cls, value: SecretStr) -> SecretStr:
        Keyring.parse(value.get_secret_value())
        return value

    def keyring(self) -> Keyring:
        return Keyring.parse(self.state_keys.get_secret_value())
