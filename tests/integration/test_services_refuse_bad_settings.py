"""Every service stops at once, naming the variable, when a secret is missing or weak."""

from __future__ import annotations

import subprocess
import sys

import pytest

from testkit.environment import TestEnvironment

SERVICES = ("gateway", "webhook_ingest", "wa_session", "activation")
NEEDS_PARTNER_TOKEN = ("gateway", "webhook_ingest", "activation")


def start(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize("module", NEEDS_PARTNER_TOKEN)
def test_missing_partner_token(module: str, test_env: TestEnvironment) -> None:
    env = test_env.env(HTTP_PORT="0")
    del env["YCLIENTS_PARTNER_TOKEN"]
    result = start(module, env)
    assert result.returncode != 0
    assert "YCLIENTS_PARTNER_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_short_jwt_secret(test_env: TestEnvironment) -> None:
    result = start("gateway", test_env.env(HTTP_PORT="0", JWT_SECRET="too-short-secret"))
    assert result.returncode != 0
    assert "JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_state_key(test_env: TestEnvironment) -> None:
    env = test_env.env(HTTP_PORT="0")
    del env["WA_STATE_KEYS"]
    result = start("wa_session", env)
    assert result.returncode != 0
    assert "WA_STATE_KEYS" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("module", SERVICES)
def test_unreachable_broker_is_named_with_a_way_to_start_it(
    module: str, test_env: TestEnvironment
) -> None:
    result = start(module, test_env.env(HTTP_PORT="0", AMQP_URL="amqp://guest:guest@127.0.0.1:1/x"))
    assert result.returncode != 0
    assert "RabbitMQ is not reachable at 127.0.0.1:1" in result.stderr
    assert "rabbitmq-server" in result.stderr
    assert "Traceback" not in result.stderr
