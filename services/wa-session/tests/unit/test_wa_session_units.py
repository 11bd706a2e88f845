"""Pure parts of wa-session: reconnect backoff and settings."""

from __future__ import annotations

import pytest
from wa_session.sessions import backoff_delay
from wa_session.settings import WaSessionSettings

from shared.settings import ConfigurationError, load_settings

KEYS = "k1:" + "qUv0Q6dXq3pC2mJd9n7kPz4R8wYt1eH5sB2cV6xN0aE="


@pytest.mark.parametrize(
    ("attempt", "base"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (30, 60.0)]
)
def test_backoff_doubles_from_one_second_to_a_minute_with_jitter(attempt: int, base: float):
    delays = {backoff_delay(attempt) for _ in range(50)}
    assert all(0.8 * base <= d <= min(60.0, 1.2 * base) for d in delays)
    assert len(delays) > 1  # jittered, so that sessions do not reconnect in step


def test_settings_default_instance_id_and_emulator_trust_off(monkeypatch):
    monkeypatch.setenv("WA_STATE_KEYS", KEYS)
    monkeypatch.delenv("INSTANCE_ID", raising=False)
    settings = load_settings(WaSessionSettings)
    assert settings.instance_id
    assert settings.trust_emulator_root_key is None
    assert settings.http_port == 8082


@pytest.mark.parametrize("keys", ["", "k1:not-base64!", "k1:" + "QUFB"])
def test_settings_refuse_bad_state_keys(monkeypatch, capsys, keys: str):
    monkeypatch.setenv("WA_STATE_KEYS", keys)
    with pytest.raises(ConfigurationError):
        load_settings(WaSessionSettings)
    assert "WA_STATE_KEYS" in capsys.readouterr().err
