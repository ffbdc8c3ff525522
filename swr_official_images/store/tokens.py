"""API tokens: issued once, stored only as SHA-256 hashes, expirable and revocable."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from swr_official_images.store.db import api_tokens

TOKEN_PREFIX = "swr_"  # noqa: S105 - a visible marker that a string is a token, not a secret
# A name is how an operator refers to a token (list, revoke); it is never the secret.
# Always applied with fullmatch: `$` would also match before a final newline, and a name with a
# line break splits log lines and list rows.
TOKEN_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class TokenError(ValueError):
    """A token operation the store refuses: a bad or duplicate name, an unknown token."""


class TokenRefusal(StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"


class TokenRefused(Exception):
    """A presented token that grants nothing, and why: for the operator's log and metrics (an
    unknown token may be a guess; an expired or revoked one was real)."""

    def __init__(self, reason: TokenRefusal, name: str | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        # The token's name when it was found (expired, revoked): never its value.
        self.name = name


@dataclass(frozen=True)
class TokenInfo:
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        """Revoked, expired at `now` (by default, the current time: read only for a token
        that expires), or active."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or utc_now()):
            return "expired"
        return "active"


def utc_now() -> datetime:
    """Naive UTC, whole seconds: the form every timestamp takes in the database."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TokenStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def create(self, name: str, expires_in: timedelta | None = None) -> str:
        """Issue a token and return it: the only time it exists outside the caller's hands."""
        if not TOKEN_NAME_PATTERN.fullmatch(name):
            raise TokenError(
                "token name must be 1-64 characters of letters, digits, '.', '_' and '-', "
                "starting with a letter or digit"
            )
        if expires_in is not None and expires_in <= timedelta(0):
            raise TokenError("expiry must be in the future")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        row = {
            "name": name,
            "token_hash": hash_token(token),
            "created_at": now,
            "expires_at": now + expires_in if expires_in is not None else None,
            "revoked_at": None,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(api_tokens.insert(), row)
        except IntegrityError:
            raise TokenError(f"a token named {name!r} already exists") from None
        return token

    def list(self) -> list[TokenInfo]:
        query = select(
            api_tokens.c.name,
            api_tokens.c.created_at,
            api_tokens.c.expires_at,
            api_tokens.c.revoked_at,
        ).order_by(api_tokens.c.created_at, api_tokens.c.name)
        with self._engine.connect() as conn:
            return [TokenInfo(**row) for row in conn.execute(query).mappings()]

    def revoke(self, name: str) -> None:
        with self._engine.begin() as conn:
            result = conn.execute(
                api_tokens.update()
                .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
            if result.rowcount == 0:
                exists = conn.execute(
                    select(api_tokens.c.id).where(api_tokens.c.name == name)
                ).first()
                if exists is None:
                    raise TokenError(f"no token named {name!r}")
                # Already revoked: revoking again is harmless.

    def any_active(self) -> bool:
        now = self._clock()
        return any(info.state(now) == "active" for info in self.list())

    def verify(self, token: str) -> TokenInfo:
        """The record of an active token; `TokenRefused` says why any other token is refused."""
        # Found by the hash of the presented token, so equality is decided by the index; the
        # lookup's timing depends on that hash, which an attacker cannot steer towards a real one.
        query = select(api_tokens).where(api_tokens.c.token_hash == hash_token(token))
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise TokenRefused(TokenRefusal.UNKNOWN)
        info = TokenInfo(
            name=row["name"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
        )
        state = info.state(self._clock())
        if state != "active":
            raise TokenRefused(TokenRefusal(state), info.name)
        return info
