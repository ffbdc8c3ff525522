"""The token store: hashed at rest, expiry and revocation honoured."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from swr_official_images.store.db import api_tokens
from swr_official_images.store.tokens import (
    TokenError,
    TokenRefusal,
    TokenRefused,
    TokenStore,
    hash_token,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now


def test_a_token_is_stored_only_as_its_hash(engine):
    token = TokenStore(engine).create("ci")

    with engine.connect() as conn:
        rows = conn.execute(select(api_tokens)).mappings().all()
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hash_token(token)
    assert all(token not in str(value) for value in rows[0].values())


def refusal(store: TokenStore, token: str) -> TokenRefused:
    with pytest.raises(TokenRefused) as refused:
        store.verify(token)
    return refused.value


@pytest.mark.parametrize(
    "alter",
    [lambda t: t + "x", lambda t: "", lambda t: " " + t, lambda t: t[:-1]],
    ids=["suffix", "empty", "space", "shorter"],
)
def test_verify_accepts_only_the_issued_token(engine, alter):
    store = TokenStore(engine)
    token = store.create("ci")

    assert store.verify(token).name == "ci"
    refused = refusal(store, alter(token))
    assert refused.reason is TokenRefusal.UNKNOWN
    assert refused.name is None


def test_expired_tokens_are_refused_as_expired(engine):
    clock = Clock()
    store = TokenStore(engine, clock=clock)
    token = store.create("short", timedelta(minutes=5))

    assert store.verify(token).name == "short"
    clock.now += timedelta(minutes=5)
    refused = refusal(store, token)
    assert (refused.reason, refused.name) == (TokenRefusal.EXPIRED, "short")
    assert token not in str(refused)
    assert store.list()[0].state(clock.now) == "expired"


def test_revoked_tokens_are_refused_as_revoked_and_revoking_twice_is_harmless(engine):
    clock = Clock()
    store = TokenStore(engine, clock=clock)
    token = store.create("ci", timedelta(minutes=5))

    store.revoke("ci")
    store.revoke("ci")

    assert (refusal(store, token).reason, refusal(store, token).name) == (
        TokenRefusal.REVOKED,
        "ci",
    )
    # Revoked and then expired: still revoked, the operator's decision.
    clock.now += timedelta(hours=1)
    assert refusal(store, token).reason is TokenRefusal.REVOKED
    assert not store.any_active()


BAD_NAMES = ["", "has space", "-leading", "x" * 65, "naïve", "ci\n", "ci\r", "ci\n\n", "\nci"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused(engine, name):
    with pytest.raises(TokenError, match="token name must be 1-64 characters"):
        TokenStore(engine).create(name)
    assert TokenStore(engine).list() == []


def test_names_are_unique_and_revoke_needs_a_known_name(engine):
    store = TokenStore(engine)
    store.create("ci")
    with pytest.raises(TokenError, match="already exists"):
        store.create("ci")
    with pytest.raises(TokenError, match="no token named"):
        store.revoke("nobody")
