"""Who a request comes from, behind the proxy.

The proxy (Caddy) replaces whatever X-Forwarded-For a client sends with the address it saw, and
only requests from a trusted proxy may speak for another address; from anyone else, the
connection's own address is the client. Walking the header from the right and skipping trusted
hops finds the first address nobody we trust vouches for.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> list[Network]:
    return [
        ipaddress.ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip()
    ]


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(request: web.Request, trusted: list[Network]) -> str:
    peer = request.remote or "unknown"
    if not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _trusted(hop, trusted):
            return hop
    return peer
