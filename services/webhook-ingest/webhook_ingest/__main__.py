"""Run webhook-ingest: ``python -m webhook_ingest`` (settings from the environment)."""

from shared.logging import configure_logging
from shared.runtime import run
from shared.settings import load_settings
from webhook_ingest.app import create_app
from webhook_ingest.settings import IngestSettings


def main() -> None:
    settings = load_settings(IngestSettings)
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    run(create_app(settings), settings)


if __name__ == "__main__":
    main()
