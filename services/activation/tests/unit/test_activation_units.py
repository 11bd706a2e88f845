"""Pure parts of activation: credentials, settings, the admin's messages, the routing."""

from __future__ import annotations

from activation.activate import refusal_message
from activation.credentials import api_key_for, api_key_hash_for, new_webhook_secret
from activation.handlers import routes
from activation.settings import ActivationSettings

from shared.crypto import hash_api_key
from shared.models import Company
from shared.yclients import ValidationFailed
from testkit.environment import TEST_SECRETS

TOKEN = TEST_SECRETS["YCLIENTS_PARTNER_TOKEN"]


def settings(**env: str) -> ActivationSettings:
    return ActivationSettings(YCLIENTS_PARTNER_TOKEN=TOKEN, YCLIENTS_APP_ID="45", **env)  # type: ignore[call-arg]


def test_the_api_key_is_the_same_for_a_repeated_install_and_only_its_hash_is_kept():
    secret = new_webhook_secret()
    assert api_key_for(TOKEN, secret) == api_key_for(TOKEN, secret)
    assert api_key_hash_for(TOKEN, secret) == hash_api_key(api_key_for(TOKEN, secret))
    assert api_key_for(TOKEN, secret) != api_key_for(TOKEN, new_webhook_secret())
    assert api_key_for(TOKEN, secret) != api_key_for(TOKEN + "x", secret)
    assert secret not in api_key_for(TOKEN, secret)


def test_webhook_secrets_are_long_and_url_safe():
    secrets = {new_webhook_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(len(s) >= 40 and s.replace("-", "").replace("_", "").isalnum() for s in secrets)


def test_settings_defaults_and_the_webhook_url():
    defaults = settings()
    assert defaults.http_port == 8083
    assert defaults.activation_window_seconds == 3600
    assert defaults.yclients_rate_limit_per_second == 3
    assert defaults.database_pool_size == 2 * defaults.prefetch + 2
    custom = settings(PUBLIC_BASE_URL="https://ai-admin.app/")
    assert custom.webhook_url("abc") == "https://ai-admin.app/callback/yclients/abc"


def test_a_refusal_names_the_salon_and_yclients_reason_in_russian():
    company = Company(id=101, salon_name="Салон на Тверской")
    message = refusal_message(company, ValidationFailed(422, "Филиал заблокирован"))
    assert message == (
        "YClients не подключил приложение в филиале «Салон на Тверской»: Филиал заблокирован. "
        "Исправьте причину и нажмите «Повторить»."
    )
    unnamed = refusal_message(Company(id=7), ValidationFailed(422, ""))
    assert "№7" in unnamed
    assert "ошибка 422." in unnamed


def test_the_routing_names_every_message_activation_handles():
    deps = object()
    assert {cls.message_type for cls in routes(deps)} == {  # type: ignore[arg-type]
        "wa.session.connected",
        "wa.session.logged_out",
        "activation.retry",
        "yclients.lifecycle",
    }
