"""`python -m yclients_sandbox --partner-token T ...`: run the sandbox, logging to stderr."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from yclients_sandbox.app import create_app
from yclients_sandbox.config import config_from_args


def main() -> None:
    config = config_from_args(sys.argv[1:])
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger(__name__).info(
        "YClients sandbox: marketplace page http://%s:%d/, application %d, salons %s; "
        "notifications to %s",
        config.host,
        config.port,
        config.application_id,
        ", ".join(f"{salon.id} {salon.name}" for salon in config.salons),
        config.notify_url or "nowhere (no --notify-url)",
    )
    web.run_app(create_app(config), host=config.host, port=config.port, print=None)


if __name__ == "__main__":
    main()
