"""structlog set up once per process: JSON in production, console on a terminal.

Context (request id, message id, correlation id, salon id) is bound with
``structlog.contextvars`` per request and per message. A redaction processor removes
secrets by key name and by value pattern before anything is rendered.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(
    r"(token|secret|password|passwd|api_key|apikey|authorization|cookie|creds|key_material|"
    r"user_data_sign|qr)",
    re.IGNORECASE,
)
# Values that look like secrets even under an innocent key: bearer tokens, JWTs.
_SECRET_VALUES = re.compile(r"(Bearer\s+\S+|eyJ[\w-]+\.[\w-]+\.[\w-]+)")
# The per-salon secret is the last segment of the webhook URLs we register with YClients.
_SECRET_IN_PATH = re.compile(r"(/callback/yclients/)[^/?#\s\"']+")
REDACTED = "[redacted]"


def redact(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEYS.search(key):
        return REDACTED
    if isinstance(value, str):
        return _SECRET_IN_PATH.sub(r"\1" + REDACTED, _SECRET_VALUES.sub(REDACTED, value))
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        event_dict[key] = redact(event_dict[key], key)
    return event_dict


class Sampled:
    """At most ``per_window`` lines a window for events that can come in floods (refused
    requests): a flood must not fill the disk or drown what else is logged. The first line of a
    window says how many were left out in the one before."""

    def __init__(
        self,
        per_window: int = 20,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_window = per_window
        self._window = window_seconds
        self._clock = clock
        self._started = -window_seconds
        self._logged = 0
        self._left_out = 0

    def log(self, method: Callable[..., Any], event: str, **fields: Any) -> None:
        now = self._clock()
        if now - self._started >= self._window:
            if self._left_out:
                fields["left_out_before"] = self._left_out
            self._started, self._logged, self._left_out = now, 0, 0
        if self._logged >= self._per_window:
            self._left_out += 1
            return
        self._logged += 1
        method(event, **fields)


def configure_logging(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info if use_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries log through the standard library; send them through the same pipeline.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[*shared[1:], renderer], foreign_pre_chain=[]
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
