"""`python -m activation`: load settings, configure logging, serve until stopped."""

from __future__ import annotations

from activation.app import create_app
from activation.settings import ActivationSettings
from shared.logging import configure_logging
from shared.runtime import run
from shared.settings import load_settings


def main() -> None:
    settings = load_settings(ActivationSettings)
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    run(create_app(settings), settings)


if __name__ == "__main__":
    main()
