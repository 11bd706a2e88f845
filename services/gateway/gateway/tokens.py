"""The onboarding token: a short-lived JWT whose ``sub`` is the connection and whose ``jti`` is
recorded in ``marketplace_tokens`` so it can be revoked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import MarketplaceToken

AUDIENCE = "onboarding"
ALGORITHM = "HS256"


class InvalidToken(Exception):
    """``reason``: missing, malformed, expired, revoked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OnboardingClaims:
    connection_id: uuid.UUID
    jti: uuid.UUID
    expires_at: datetime


def encode(connection_id: uuid.UUID, secret: str, ttl_seconds: int) -> tuple[str, OnboardingClaims]:
    now = datetime.now(UTC)
    claims = OnboardingClaims(connection_id, uuid.uuid4(), now + timedelta(seconds=ttl_seconds))
    token = jwt.encode(
        {
            "sub": str(claims.connection_id),
            "jti": str(claims.jti),
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
        },
        secret,
        algorithm=ALGORITHM,
    )
    return token, claims


def decode(token: str, secret: str) -> OnboardingClaims:
    """Signature, expiry and audience; not revocation (see :func:`check_not_revoked`)."""
    try:
        data = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "jti", "aud"]},
        )
        return OnboardingClaims(
            uuid.UUID(str(data["sub"])),
            uuid.UUID(str(data["jti"])),
            datetime.fromtimestamp(int(data["exp"]), UTC),
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise InvalidToken("malformed") from None


async def record(session: AsyncSession, claims: OnboardingClaims) -> None:
    session.add(
        MarketplaceToken(
            jti=claims.jti,
            connection_id=claims.connection_id,
            purpose=AUDIENCE,
            expires_at=claims.expires_at,
        )
    )


async def revoke_all(session: AsyncSession, connection_id: uuid.UUID) -> None:
    """Every token of a connection: its pages can do nothing any more."""
    await session.execute(
        update(MarketplaceToken)
        .where(
            MarketplaceToken.connection_id == connection_id, MarketplaceToken.revoked_at.is_(None)
        )
        .values(revoked_at=func.now())
    )


async def check_not_revoked(session: AsyncSession, claims: OnboardingClaims) -> None:
    row = await session.get(MarketplaceToken, claims.jti)
    if (
        row is None
        or row.revoked_at is not None
        or row.connection_id != claims.connection_id
        or row.purpose != AUDIENCE
    ):
        raise InvalidToken("revoked")


async def verify(session: AsyncSession, token: str | None, secret: str) -> OnboardingClaims:
    if not token:
        raise InvalidToken("missing")
    claims = decode(token, secret)
    await check_not_revoked(session, claims)
    return claims
