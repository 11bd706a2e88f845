import pytest
from pydantic import Field, SecretStr, field_validator

from shared.settings import (
    CommonSettings,
    ConfigurationError,
    YClientsSettings,
    check_secret_strength,
    load_settings,
)


class ExampleSettings(CommonSettings, YClientsSettings):
    jwt_secret: SecretStr = Field(alias="JWT_SECRET")

    @field_validator("jwt_secret")
    @classmethod
    def _strong(cls, value: SecretStr) -> SecretStr:
        return check_secret_strength("JWT_SECRET", value, 32)


GOOD = {
    "JWT_SECRET": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "YCLIENTS_PARTNER_TOKEN": "p4rtn3r-t0ken-0123456789abcdef",
    "YCLIENTS_APP_ID": "45",
}


def test_valid_environment_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(ExampleSettings)
    assert settings.yclients_application_id == 45
    assert "p4rtn3r" not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("JWT_SECRET", "short", "JWT_SECRET: JWT_SECRET must be at least 32 bytes"),
        ("JWT_SECRET", "changeme" * 5, "placeholder"),
        ("YCLIENTS_PARTNER_TOKEN", None, "YCLIENTS_PARTNER_TOKEN: is required"),
    ],
)
def test_missing_or_weak_secret_exits_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str | None,
    expected: str,
) -> None:
    for key, good in GOOD.items():
        monkeypatch.setenv(key, good)
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError):
        load_settings(ExampleSettings)
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


def test_an_empty_variable_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # compose passes ${VAR:-}: what .env leaves out arrives empty and takes the default...
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AMQP_PREFETCH", "")
    monkeypatch.setenv("YCLIENTS_RATE_LIMIT_PER_SECOND", "")
    settings = load_settings(ExampleSettings)
    assert (settings.prefetch, settings.yclients_rate_limit_per_second) == (32, 3.0)
    # ...and an empty secret is a missing one.
    monkeypatch.setenv("JWT_SECRET", "")
    with pytest.raises(ConfigurationError):
        load_settings(ExampleSettings)
    assert "JWT_SECRET: is required" in capsys.readouterr().err
