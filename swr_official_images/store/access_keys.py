"""AK/SK access keys: an access key id (public) and a secret access key, shown once and kept
encrypted under the master key, because verifying a signature needs the secret itself."""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from swr_official_images.store.db import access_keys
from swr_official_images.store.tokens import TOKEN_NAME_PATTERN, utc_now

log = logging.getLogger(__name__)

# The shapes of Huawei Cloud's own keys: a 20-character AK, a 40-character SK.
_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
_NONCE_BYTES = 12

NO_MASTER_KEY = (
    "no master key: set SWR_SECRET_KEY (required on PostgreSQL; on SQLite the key file beside "
    "the database is created on first start)"
)


class AccessKeyError(ValueError):
    """An access key operation the store refuses: a bad or duplicate name, an unknown key."""


class KeyRefusal(StrEnum):
    UNKNOWN = "unknown"
    DISABLED = "disabled"
    # Signing is not configured, or the key was created under another master key.
    UNUSABLE = "unusable"


@dataclass(frozen=True)
class AccessKeyInfo:
    name: str
    access_key_id: str
    created_at: datetime
    disabled_at: datetime | None

    @property
    def state(self) -> str:
        return "disabled" if self.disabled_at is not None else "active"


@dataclass(frozen=True)
class SigningKey:
    """The secret to check a signature with, and why the key is refused if it is (then the
    secret may be a decoy's)."""

    name: str
    secret: str
    refusal: KeyRefusal | None = None


class AccessKeyStore:
    def __init__(
        self,
        engine: Engine,
        master_key: bytes | None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._engine = engine
        self._aead = AESGCM(master_key) if master_key is not None else None
        self._clock = clock
        self._undecryptable_logged: set[str] = set()
        # A secret of no key's, stored as a key's is, so that a refused key can be given the
        # work of a real one (see signing_key).
        self._decoy: tuple[str, bytes] | None = None
        if self._aead is not None:
            self._decoy = ("DECOY", self._encrypt("DECOY", _random_secret()))

    @property
    def enabled(self) -> bool:
        return self._aead is not None

    def create(self, name: str) -> tuple[str, str]:
        """Issue a key; return (access key id, secret access key): the only time the secret
        exists outside the caller's hands in the clear."""
        if not TOKEN_NAME_PATTERN.fullmatch(name):
            raise AccessKeyError(
                "key name must be 1-64 characters of letters, digits, '.', '_' and '-', "
                "starting with a letter or digit"
            )
        if self._aead is None:
            raise AccessKeyError(NO_MASTER_KEY)
        access_key_id = "".join(secrets.choice(_ALPHABET) for _ in range(20))
        secret = _random_secret()
        row = {
            "name": name,
            "access_key_id": access_key_id,
            "secret_ciphertext": self._encrypt(access_key_id, secret),
            "created_at": self._clock(),
            "disabled_at": None,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(access_keys.insert(), row)
        except IntegrityError:
            raise AccessKeyError(f"a key named {name!r} already exists") from None
        return access_key_id, secret

    def list(self) -> list[AccessKeyInfo]:
        query = select(
            access_keys.c.name,
            access_keys.c.access_key_id,
            access_keys.c.created_at,
            access_keys.c.disabled_at,
        ).order_by(access_keys.c.created_at, access_keys.c.name)
        with self._engine.connect() as conn:
            return [AccessKeyInfo(**row) for row in conn.execute(query).mappings()]

    def disable(self, name: str) -> None:
        with self._engine.begin() as conn:
            result = conn.execute(
                access_keys.update()
                .where(access_keys.c.name == name, access_keys.c.disabled_at.is_(None))
                .values(disabled_at=self._clock())
            )
            if result.rowcount == 0 and not self._exists(conn, name):
                raise AccessKeyError(f"no key named {name!r}")

    def delete(self, name: str) -> None:
        with self._engine.begin() as conn:
            result = conn.execute(access_keys.delete().where(access_keys.c.name == name))
            if result.rowcount == 0:
                raise AccessKeyError(f"no key named {name!r}")

    @staticmethod
    def _exists(conn: Connection, name: str) -> bool:
        query = select(access_keys.c.id).where(access_keys.c.name == name)
        return conn.execute(query).first() is not None

    def _encrypt(self, access_key_id: str, secret: str) -> bytes:
        assert self._aead is not None
        nonce = secrets.token_bytes(_NONCE_BYTES)
        # The access key id is bound in as associated data: a ciphertext moved to another row
        # does not decrypt.
        return nonce + self._aead.encrypt(
            nonce, secret.encode("ascii"), access_key_id.encode("ascii")
        )

    def _decrypt(self, access_key_id: str, ciphertext: bytes) -> str:
        assert self._aead is not None
        secret = self._aead.decrypt(
            ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:], access_key_id.encode()
        )
        return secret.decode("ascii")

    def signing_key(self, access_key_id: str) -> SigningKey:
        """The key's name and secret, read afresh on every call so that a disabled or deleted
        key is refused at once by every process.

        A key that cannot be used comes back with its refusal, after the same work as a usable
        one (one query, one decryption; the decoy's secret when the key has none to give): the
        caller checks the signature all the same and refuses afterwards, so the time a refusal
        takes does not tell which keys exist or their state."""
        if self._aead is None or self._decoy is None:
            # Every key is refused alike: there is nothing about one key to tell.
            return SigningKey("", _random_secret(), KeyRefusal.UNUSABLE)
        # An id that cannot be a key's is looked up all the same: it matches no row.
        query = select(access_keys).where(access_keys.c.access_key_id == access_key_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return SigningKey("", self._decoy_secret(), KeyRefusal.UNKNOWN)
        # Decrypting is microseconds, cheaper than keeping secrets in memory: nothing cached.
        try:
            secret = self._decrypt(access_key_id, bytes(row["secret_ciphertext"]))
        except InvalidTag:
            if row["name"] not in self._undecryptable_logged:
                self._undecryptable_logged.add(row["name"])
                log.error(
                    "access key %r cannot be decrypted: the master key (SWR_SECRET_KEY or the "
                    "key file) is not the one it was created under; restore that key, or "
                    "delete the access key and create a new one",
                    row["name"],
                )
            return SigningKey(row["name"], _random_secret(), KeyRefusal.UNUSABLE)
        if row["disabled_at"] is not None:
            return SigningKey(row["name"], secret, KeyRefusal.DISABLED)
        return SigningKey(row["name"], secret)

    def _decoy_secret(self) -> str:
        assert self._decoy is not None
        return self._decrypt(*self._decoy)


def _random_secret() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
