"""Which of a redirect's salons it may take: the rule, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from gateway.onboarding import Claims, KnownSalon, split_claims

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=30)
EARLIER = NOW - timedelta(seconds=1)


def salon(
    salon_id: int, status: str, user: str | None, claimed_until: datetime | None
) -> KnownSalon:
    return KnownSalon(salon_id, status, uuid.uuid4(), user, claimed_until)


def test_new_salons_and_the_same_users_salons_are_claimable() -> None:
    known = {2: salon(2, "pending", "anna", LATER), 3: salon(3, "activation_failed", "anna", LATER)}
    assert split_claims([1, 2, 3], known, "anna", NOW) == Claims([1, 2, 3], [], [])


def test_another_users_salon_is_refused_while_the_claim_lasts() -> None:
    for status in ("pending", "activation_failed", "uninstalled"):
        known = {1: salon(1, status, "anna", LATER)}
        assert split_claims([1], known, "stranger", NOW) == Claims([], [], [1])
        assert split_claims([1], known, None, NOW) == Claims([], [], [1])


def test_an_ended_or_absent_claim_binds_nobody() -> None:
    known = {1: salon(1, "pending", "anna", EARLIER), 2: salon(2, "uninstalled", "anna", None)}
    assert split_claims([1, 2], known, "stranger", NOW) == Claims([1, 2], [], [])


def test_installed_salons_are_left_alone_unless_yclients_no_longer_has_them() -> None:
    known = {
        1: salon(1, "active", "anna", EARLIER),
        2: salon(2, "frozen", "anna", None),
        3: salon(3, "activating", "anna", LATER),
    }
    assert split_claims([1, 2, 3], known, "anna", NOW) == Claims([], [1, 2, 3], [])
    assert split_claims([1, 2, 3], known, "anna", NOW, frozenset({1})) == Claims([1], [2, 3], [])
