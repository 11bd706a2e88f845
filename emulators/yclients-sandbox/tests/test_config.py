"""Settings come from the command line, then SANDBOX_* variables, then YClients-like defaults."""

from __future__ import annotations

import pytest
from yclients_sandbox.config import (
    SandboxConfig,
    TariffConfig,
    config_from_args,
    parse_salons,
    parse_tariffs,
)


def test_default_webhook_policy_is_the_one_of_yclients():
    config = SandboxConfig(partner_token="t")
    assert config.webhook_timeout_seconds == 10
    assert config.webhook_retries == 2
    assert config.webhook_retry_delay_seconds == 1.5


def test_salons_option_reads_quoted_and_bare_names():
    assert parse_salons('101:"Салон на Тверской",102:Салон на Арбате') == parse_salons(
        "101:Салон на Тверской, 102:Салон на Арбате"
    )
    with pytest.raises(ValueError, match="cannot read"):
        parse_salons("Тверская")


def test_command_line_wins_over_environment():
    env = {"SANDBOX_PARTNER_TOKEN": "from-env", "SANDBOX_PORT": "9999", "SANDBOX_SALONS": "7:Семь"}

    config = config_from_args(["--port", "8090", "--application-id", "46"], env)

    assert config.partner_token == "from-env"
    assert config.port == 8090
    assert config.application_id == 46
    assert [(salon.id, salon.name) for salon in config.salons] == [(7, "Семь")]


def test_partner_token_is_required():
    with pytest.raises(SystemExit):
        config_from_args([], {})


def test_notification_and_billing_defaults():
    config = SandboxConfig(partner_token="t")
    assert config.notify_url is None
    assert config.reminder_before_seconds == 2 * 3600
    assert config.client_phone == "79990001111"
    assert config.tariffs == ()
    assert config.trial_seconds == 0


def test_tariffs_option_reads_title_price_months_currency():
    assert parse_tariffs("Месяц:1990, Год:19900:12, Евро:20:1:EUR") == (
        TariffConfig("Месяц", 1990.0, 1, "RUB"),
        TariffConfig("Год", 19900.0, 12, "RUB"),
        TariffConfig("Евро", 20.0, 1, "EUR"),
    )
    assert parse_tariffs("") == ()
    with pytest.raises(ValueError, match="cannot read a tariff"):
        parse_tariffs("Месяц")


def test_notification_options_from_environment_and_command_line():
    env = {
        "SANDBOX_PARTNER_TOKEN": "t",
        "SANDBOX_NOTIFY_URL": "http://127.0.0.1:8082/yclients/notify",
        "SANDBOX_TARIFFS": "Месяц:1990",
    }

    config = config_from_args(
        ["--reminder-before-seconds", "30", "--trial-seconds", "60", "--host", "0.0.0.0"], env
    )

    assert config.notify_url == "http://127.0.0.1:8082/yclients/notify"
    assert config.tariffs == (TariffConfig("Месяц", 1990.0),)
    assert config.reminder_before_seconds == 30
    assert config.trial_seconds == 60
    # Where our services reach it: listening everywhere means this machine.
    assert config.public_url == "http://127.0.0.1:8090"
    assert config_from_args(["--public-url", "http://sandbox:8090"], env).public_url == (
        "http://sandbox:8090"
    )
