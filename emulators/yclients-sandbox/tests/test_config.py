"""Settings come from the command line, then SANDBOX_* variables, then YClients-like defaults."""

from __future__ import annotations

import pytest
from yclients_sandbox.config import SandboxConfig, config_from_args, parse_salons


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
