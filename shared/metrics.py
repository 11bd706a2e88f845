"""Prometheus metrics every service exposes on ``/metrics`` (see ``shared.runtime``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, Info

# Which process answered a scrape, where several share one address (HTTP_REUSE_PORT).
INSTANCE = Info("aiadmin_instance", "The service and instance this process is")
HTTP_REQUESTS = Counter(
    "aiadmin_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "aiadmin_http_request_seconds",
    "Time to answer an HTTP request",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
MESSAGES_PUBLISHED = Counter(
    "aiadmin_messages_published_total", "Messages confirmed by the broker", ["exchange", "type"]
)
MESSAGES_CONSUMED = Counter(
    "aiadmin_messages_consumed_total",
    "Messages taken from a queue, by what became of them",
    ["queue", "type", "outcome"],
)
# Queue lag: how long a message waited between being published and being handled.
MESSAGE_LAG_SECONDS = Histogram(
    "aiadmin_message_lag_seconds",
    "Time from publishing a message to its handler starting",
    ["queue"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
)
