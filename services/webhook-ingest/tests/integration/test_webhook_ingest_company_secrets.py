"""The secrets cache against the real database: bounded, and alike for the unknown and the wrong."""

from __future__ import annotations

import pytest
from webhook_ingest.company_secrets import CompanySecrets

from shared.refusals import Refusal


async def test_unknown_companies_and_wrong_secrets_are_refused_alike(database, salon) -> None:
    secrets = CompanySecrets(database, ttl=30)
    await secrets.verify(salon.id, salon.secret)
    refusals = []
    for company_id, presented in ((salon.id, "not-" + salon.secret), (salon.id + 1, salon.secret)):
        with pytest.raises(Refusal) as refused:
            await secrets.verify(company_id, presented)
        refusals.append((refused.value.status, refused.value.code, refused.value.message))
    assert refusals[0] == refusals[1] == (403, "wrong_secret", refusals[0][2])


async def test_the_cache_keeps_the_most_recently_used_companies_only(database, salon) -> None:
    secrets = CompanySecrets(database, ttl=30, max_entries=3)
    for stranger in range(1, 6):  # a flood of made-up ids
        with pytest.raises(Refusal):
            await secrets.verify(salon.id + stranger, "x")
        await secrets.verify(salon.id, salon.secret)  # the real salon stays in use
        assert secrets.cached() <= 3
