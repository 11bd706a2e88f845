"""deploy/compose.yml names every service, and every variable the code reads is configured."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import yaml
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "deploy" / "compose.yml").read_text())
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
SERVICES = {
    "gateway": "gateway.settings",
    "webhook-ingest": "webhook_ingest.settings",
    "wa-session": "wa_session.settings",
    "activation": "activation.settings",
}


def settings_fields(module_name: str) -> dict[str, bool]:
    """Environment variable -> required, for every settings class of a service."""
    module = importlib.import_module(module_name)
    fields: dict[str, bool] = {}
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, BaseSettings) and cls.__module__ == module_name:
            for name, info in cls.model_fields.items():
                fields[info.alias or name.upper()] = info.is_required()
    return fields


# Read by the code but never set in production: tests, the offline demo, the image itself.
NOT_FOR_PRODUCTION = {
    "DEMO_PHONE_URL",
    "WA_WEBSOCKET_URL",
    "WA_TRUST_EMULATOR_ROOT_KEY",
    "WA_QR_TIMEOUT_MS",
    "WA_NODE_BINARY",
    "WA_BRIDGE_PATH",
    "INSTANCE_ID",
}
# Which services may hold each secret.
SECRETS = {
    "JWT_SECRET": {"gateway"},
    "WA_STATE_KEYS": {"wa-session"},
    "YCLIENTS_PARTNER_TOKEN": {"gateway", "webhook-ingest", "activation"},
}


def environment(service: str) -> dict[str, str]:
    return dict(COMPOSE["services"][service].get("environment", {}))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_built_run_and_checked(service: str) -> None:
    spec = COMPOSE["services"][service]
    assert spec["build"]["dockerfile"] == f"services/{service}/Dockerfile"
    assert (ROOT / spec["build"]["dockerfile"]).exists()
    assert spec["restart"] == "unless-stopped"
    assert "/readyz" in " ".join(spec["healthcheck"]["test"])
    assert spec["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "container_name" not in spec, "a fixed container name prevents --scale"
    assert "ports" not in spec, "only the proxy publishes ports, so services can scale"


@pytest.mark.parametrize(("service", "module"), SERVICES.items())
def test_every_variable_the_code_reads_is_passed_and_documented(service: str, module: str) -> None:
    for variable, required in settings_fields(module).items():
        assert variable in ENV_EXAMPLE, f"{variable} ({service}) is not documented in .env.example"
        if variable in NOT_FOR_PRODUCTION:
            continue
        assert variable in environment(service), f"{service} is not given {variable}"
        if required:
            assert f":?set {variable}" in str(environment(service)[variable]), (
                f"compose must refuse to start {service} without {variable}"
            )


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_only_its_own_secrets(service: str) -> None:
    spec = COMPOSE["services"][service]
    assert "env_file" not in spec, "an env_file would hand the service every secret"
    for secret, holders in SECRETS.items():
        assert (secret in environment(service)) == (service in holders), (service, secret)


def test_infrastructure_and_proxy() -> None:
    services = COMPOSE["services"]
    for name in ("postgres", "rabbitmq"):
        assert "healthcheck" in services[name]
        assert services[name]["volumes"], f"{name} keeps its data in a volume"
    assert services["migrate"]["restart"] == "no"
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "/callback/yclients*" in caddyfile and "webhook-ingest:8081" in caddyfile
    assert "gateway:8080" in caddyfile


def test_dockerfiles_pin_bases_and_drop_root() -> None:
    for service in SERVICES:
        dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
        bases = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
        assert bases and all(":" in base and not base.endswith(":latest") for base in bases)
        assert "\nUSER " in dockerfile, f"{service} runs as root"
