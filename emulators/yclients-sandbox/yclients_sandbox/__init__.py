"""A local stand-in for YClients: partner API, marketplace page, webhooks, notification module."""

from yclients_sandbox.app import create_app
from yclients_sandbox.config import SalonConfig, SandboxConfig, UserConfig
from yclients_sandbox.redirect import build_redirect_url

__all__ = ["SalonConfig", "SandboxConfig", "UserConfig", "build_redirect_url", "create_app"]
