"""Why a request is refused: an HTTP status, a stable error code and a detail for the sender."""

from __future__ import annotations

from typing import Any


class Rejected(Exception):
    """Raised anywhere on the request path; the error middleware renders it as JSON."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.detail = detail
