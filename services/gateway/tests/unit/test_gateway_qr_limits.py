"""The per-connection limit on new logins: a sliding window, one connection never spends
another's share."""

from __future__ import annotations

import uuid

import pytest
from gateway.actions import ActionRefused
from gateway.qr_limits import QrRequestLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides() -> None:
    clock = Clock()
    limits = QrRequestLimits(limit=2, window=60, clock=clock)
    first, second = uuid.uuid4(), uuid.uuid4()
    limits.take(first)
    clock.now += 30
    limits.take(first)
    with pytest.raises(ActionRefused) as refusal:
        limits.take(first)
    assert (refusal.value.status, refusal.value.code) == (429, "too_many_qr_requests")
    limits.take(second)  # its own share
    clock.now += 30.5  # the first request is now older than the window
    limits.take(first)
    with pytest.raises(ActionRefused):
        limits.take(first)
