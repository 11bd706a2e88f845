"""What we refuse, said one way in every service: an HTTP status, a stable code for programs, a
sentence for people (Russian wherever an admin or operator reads it), optional detail for
machines, and when to come back.

Raised anywhere on a request's path; the ``refusals`` middleware (HTTP) and each Socket.IO
namespace render it. aiohttp's own errors (404, 405, 413…) become refusals too, through
``as_refusal``, so that every answer of a service has the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

log = structlog.get_logger(__name__)


class Refusal(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        detail: Any = None,
        retry_after_seconds: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.retry_after_seconds = retry_after_seconds
        self.headers = dict(headers or {})

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        return body

    def response(self) -> web.Response:
        response = web.Response(
            body=orjson.dumps(self.to_json()),
            status=self.status,
            content_type="application/json",
            headers=self.headers,
        )
        if self.retry_after_seconds is not None:
            response.headers["Retry-After"] = str(self.retry_after_seconds)
        return response


def route_name(request: web.Request) -> str:
    """The pattern of the route a request matched: safe to log and count, where the path itself
    may carry a secret (a salon's webhook URL)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def as_refusal(error: web.HTTPException, message: str | None = None) -> Refusal:
    """aiohttp's HTTP error as a refusal: its status, its reason as the code (``method_not_
    allowed``), and the ``Allow`` header a 405 carries."""
    allow = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
    code = CODES.get(error.status) or error.reason.lower().replace(" ", "_")
    return Refusal(error.status, code, message or error.text or error.reason, headers=allow)


# Codes clearer than aiohttp's reason phrase would make them.
CODES = {413: "body_too_large", 408: "request_timeout"}


def refusals(
    *,
    noticed: Callable[[web.Request, Refusal], None] | None = None,
    unexpected: Refusal | None = None,
) -> Middleware:
    """Render every ``Refusal`` (and aiohttp's HTTP errors) as its JSON answer.

    ``noticed`` sees each refusal (to count and log it); with ``unexpected``, any other error is
    answered with that refusal instead of a 500 (webhook-ingest answers 503, so that YClients
    retries).
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refusal as refusal:
            answer = refusal
        except web.HTTPException as error:
            if error.status < 400:
                raise
            answer = as_refusal(error)
        except Exception as error:
            if unexpected is None:
                raise
            log.error("answered an unexpected error", error=repr(error), route=route_name(request))
            answer = unexpected
        if noticed is not None:
            noticed(request, answer)
        return answer.response()

    return middleware
