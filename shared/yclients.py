"""A client of YClients' marketplace partner API (``yclients-contract.md``).

Every call carries the partner token, the v2 ``Accept`` header and a browser-like
``User-Agent`` (YClients' firewall answers requests without one with an HTML page). Answers
are read as the API's envelope ``{"success", "data", "meta"}`` only when they are JSON, and
``success`` must be true; anything else becomes a :class:`YClientsError` subclass. Redirects
are never followed: a followed redirect ends on an HTML page, not on the API's answer.

Network errors, 429 and 5xx are retried with exponential backoff and full jitter; nothing else
is. Every attempt first waits for the process's :class:`RateLimiter`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from shared.settings import YClientsSettings

log = structlog.get_logger(__name__)

ALREADY_INSTALLED_MESSAGE = "Пользователь уже установил это приложение."
ACCEPT = "application/vnd.yclients.v2+json"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36 AIAdmin-Marketplace/1.0"
)

__all__ = [
    "ALREADY_INSTALLED_MESSAGE",
    "AlreadyInstalled",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "RateLimiter",
    "Retry",
    "Unauthorized",
    "Unavailable",
    "UnexpectedAnswer",
    "ValidationFailed",
    "YClientsClient",
    "YClientsError",
    "client_for",
]


class YClientsError(Exception):
    """YClients refused or did not answer as its API does. ``message`` is its ``meta.message``."""

    transient = False

    def __init__(
        self,
        status: int | None,
        message: str,
        errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"YClients answered {status}: {message}")
        self.status = status
        self.message = message
        self.errors = errors or {}


class AlreadyInstalled(YClientsError):
    """The install call for a salon where the application is installed: treat as done."""


class ValidationFailed(YClientsError):
    """422: YClients does not accept the request (consent missing, window over, bad field)."""


class Unauthorized(YClientsError):
    """401: the partner token is wrong."""


class Forbidden(YClientsError):
    """403: no access to this application or salon, or the firewall refused us."""


class NotFound(YClientsError):
    """404: e.g. the status of an application that is not installed."""


class UnexpectedAnswer(YClientsError):
    """A body that is not the API's envelope, a redirect, or ``success: false`` on a 2xx."""


class RateLimited(YClientsError):
    transient = True


class Unavailable(YClientsError):
    """5xx or a network error: YClients could not be reached or failed."""

    transient = True


class RateLimiter:
    """A token bucket that paces calls to ``per_second`` on average, ``burst`` at most at once.

    YClients allows 5 requests a second and 200 a minute per IP. The default of 3 a second
    (with a burst of 1, i.e. evenly spaced calls) stays under both. The limit is per process: with
    N instances behind one IP, give each ``YCLIENTS_RATE_LIMIT_PER_SECOND`` = 3/N, so that their
    sum still holds; a 429 that slips through anyway (clock jitter, another client on the IP) is
    retried like any transient error.
    """

    def __init__(
        self,
        per_second: float,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("per_second must be positive and burst at least 1")
        self._interval = 1.0 / per_second
        self._burst = burst
        self._clock = clock
        # The moment the bucket would be full again (GCRA's "theoretical arrival time").
        self._full_at = 0.0

    def reserve(self) -> float:
        """Take a token; returns how many seconds to wait before using it."""
        now = self._clock()
        full_at = max(self._full_at, now)
        earliest = full_at - (self._burst - 1) * self._interval
        wait = max(0.0, earliest - now)
        self._full_at = full_at + self._interval
        return wait

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)


@dataclass(frozen=True)
class Retry:
    """How often and how patiently transient failures are retried."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        """Full jitter: a random delay up to base * 2^(attempt-1), capped."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any
    meta: dict[str, Any]


class YClientsClient:
    """The partner endpoints we use. The aiohttp session is injected and owned by the caller."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        partner_token: str,
        application_id: int,
        limiter: RateLimiter,
        retry: Retry | None = None,
        timeout_seconds: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {partner_token}",
            "Accept": ACCEPT,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        self.application_id = application_id
        self._limiter = limiter
        self._retry = retry or Retry()
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._sleep = sleep

    # -- endpoints -----------------------------------------------------------------------------

    async def install(
        self,
        salon_id: int,
        api_key: str,
        webhook_urls: list[str],
        channels: list[str],
    ) -> Any:
        """Tell YClients the application is installed in a salon. Raises AlreadyInstalled."""
        body = {
            "salon_id": salon_id,
            "application_id": self.application_id,
            "api_key": api_key,
            "webhook_urls": webhook_urls,
            "channels": channels,
        }
        answer = await self._call("POST", "/marketplace/partner/callback", body)
        return answer.data

    async def application_status(self, salon_id: int) -> dict[str, Any] | None:
        """The installation in a salon with its logs, or None when it is not installed."""
        path = f"/marketplace/salon/{salon_id}/application/{self.application_id}"
        try:
            answer = await self._call("GET", path)
        except NotFound:
            return None
        return answer.data if isinstance(answer.data, dict) else {}

    async def uninstall(self, salon_id: int) -> Any:
        path = f"/marketplace/salon/{salon_id}/application/{self.application_id}/uninstall"
        return (await self._call("POST", path)).data

    async def update_channel(self, salon_id: int, channel_slug: str, is_available: bool) -> Any:
        body = {
            "salon_id": salon_id,
            "application_id": self.application_id,
            "channel_slug": channel_slug,
            "is_available": is_available,
        }
        return (await self._call("POST", "/marketplace/application/update_channel", body)).data

    async def payment(
        self,
        salon_id: int,
        payment_sum: float,
        currency_iso: str,
        payment_date: str,
        period_from: str,
        period_to: str,
    ) -> int:
        """Report a payment for a salon; returns YClients' payment id."""
        body = {
            "salon_id": salon_id,
            "application_id": self.application_id,
            "payment_sum": payment_sum,
            "currency_iso": currency_iso,
            "payment_date": payment_date,
            "period_from": period_from,
            "period_to": period_to,
        }
        answer = await self._call("POST", "/marketplace/partner/payment", body)
        if not isinstance(answer.data, dict) or not isinstance(answer.data.get("id"), int):
            raise UnexpectedAnswer(answer.status, "the payment answer has no data.id")
        return int(answer.data["id"])

    # -- transport -----------------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
        for attempt in range(1, self._retry.attempts + 1):
            try:
                return await self._once(method, path, body)
            except YClientsError as exc:
                if not exc.transient or attempt == self._retry.attempts:
                    raise
                delay = self._retry.delay(attempt)
                log.warning(
                    "yclients call failed; retrying",
                    path=path,
                    status=exc.status,
                    attempt=attempt,
                    delay_seconds=round(delay, 3),
                )
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _once(self, method: str, path: str, body: dict[str, Any] | None) -> Answer:
        await self._limiter.acquire()
        try:
            async with self._session.request(
                method,
                self._base_url + path,
                json=body,
                headers=self._headers,
                allow_redirects=False,
                timeout=self._timeout,
            ) as response:
                raw = await response.read()
                content_type = response.content_type
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(None, f"{exc.__class__.__name__}: {exc}") from exc
        return _read_answer(status, content_type, raw)


def client_for(
    session: aiohttp.ClientSession,
    settings: YClientsSettings,
    retry: Retry | None = None,
    timeout_seconds: float = 10.0,
) -> YClientsClient:
    """The client a service builds from its settings, with its own share of the rate limit."""
    return YClientsClient(
        session,
        base_url=str(settings.yclients_base_url),
        partner_token=settings.yclients_partner_token.get_secret_value(),
        application_id=settings.yclients_application_id,
        limiter=RateLimiter(settings.yclients_rate_limit_per_second),
        retry=retry,
        timeout_seconds=timeout_seconds,
    )


def _read_answer(status: int, content_type: str, raw: bytes) -> Answer:
    envelope = _envelope(content_type, raw)
    if envelope is None:
        # HTML (the firewall), an empty body, or anything that is not the API speaking.
        what = f"a {content_type or 'bodiless'} answer instead of the API's JSON"
        if status == 429:
            raise RateLimited(status, what)
        if status >= 500:
            raise Unavailable(status, what)
        if status == 403:
            raise Forbidden(status, what)
        raise UnexpectedAnswer(status, what)
    meta: dict[str, Any] = envelope["meta"] if isinstance(envelope.get("meta"), dict) else {}
    message = str(meta.get("message") or "")
    errors = meta.get("errors") if isinstance(meta.get("errors"), dict) else None
    if 200 <= status < 300 and envelope.get("success") is True:
        return Answer(status, envelope.get("data"), meta)
    raise _error_for(status, message, errors)


def _envelope(content_type: str, raw: bytes) -> dict[str, Any] | None:
    if "json" not in content_type:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or "success" not in parsed:
        return None
    return parsed


def _error_for(status: int, message: str, errors: dict[str, Any] | None) -> YClientsError:
    if _says_already_installed(message, errors):
        return AlreadyInstalled(status, message or ALREADY_INSTALLED_MESSAGE, errors)
    text = message or f"HTTP {status}"
    if status == 401:
        return Unauthorized(status, text, errors)
    if status == 403:
        return Forbidden(status, text, errors)
    if status == 404:
        return NotFound(status, text, errors)
    if status == 422:
        return ValidationFailed(status, text, errors)
    if status == 429:
        return RateLimited(status, text, errors)
    if status >= 500:
        return Unavailable(status, text, errors)
    return UnexpectedAnswer(status, text, errors)


def _says_already_installed(message: str, errors: dict[str, Any] | None) -> bool:
    texts = [message]
    for value in (errors or {}).values():
        texts.extend(str(item) for item in (value if isinstance(value, list) else [value]))
    marker = ALREADY_INSTALLED_MESSAGE.rstrip(".").lower()
    return any(marker in text.lower() for text in texts)
