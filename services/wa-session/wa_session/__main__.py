"""``python -m wa_session``"""

from __future__ import annotations

from shared.logging import configure_logging
from shared.runtime import run
from shared.settings import load_settings
from wa_session.app import create_app
from wa_session.settings import WaSessionSettings


def main() -> None:
    settings = load_settings(WaSessionSettings)
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    run(create_app(settings), settings)


if __name__ == "__main__":
    main()
