"""Security headers on every response, sockets included (set just before headers are sent)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.settings import GatewaySettings

NO_STORE_PREFIXES = ("/marketplace/api/", "/marketplace/onboarding", "/auth/")


def connect_sources(origins: list[str]) -> str:
    """Our own origin, and Socket.IO's WebSocket to each page origin: never to any host."""
    sockets = [
        origin.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        for origin in origins
        if origin.startswith(("https://", "http://"))
    ]
    return " ".join(["'self'", *sockets])


def security_headers(
    settings: GatewaySettings,
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    csp = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect_sources(settings.origins())}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {settings.frame_ancestors}",
        )
    )

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers["Content-Security-Policy"] = csp
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        if settings.frame_ancestors.strip() == "'none'":
            headers["X-Frame-Options"] = "DENY"
        if settings.environment == "production":
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.path.startswith(NO_STORE_PREFIXES):
            headers["Cache-Control"] = "no-store"

    return on_prepare
