"""The master key that encrypts AK/SK secrets: `SWR_SECRET_KEY`, or on the embedded SQLite store
a key file beside the database, created with mode 0600 on first use."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.settings import Settings

# Binds derived keys to this use: the same SWR_SECRET_KEY used elsewhere yields another key.
_KDF_INFO = b"swr-official-images access key secrets v1"


def derive_key(secret: str) -> bytes:
    """An AES-256 key from the configured secret (any string of at least 32 characters)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO).derive(
        secret.encode("utf-8")
    )


def key_file_path(settings: Settings) -> Path | None:
    """Where the embedded default keeps its master key: `var/official-images.key` beside
    `var/official-images.db`. None when the store is not a SQLite file."""
    database = settings.sqlite_path()
    return None if database is None else database.with_suffix(".key")


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    # Written in full under a temporary name, then linked into place: several workers starting
    # at once agree on one key, and none ever reads a half-written file.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii") + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def load_master_key(settings: Settings, *, create: bool) -> bytes | None:
    """The master key, or None when there is none: no `SWR_SECRET_KEY` and no key file (on
    PostgreSQL there never is one). `create` makes the key file on a SQLite store."""
    if settings.secret_key is not None:
        return derive_key(settings.secret_key.get_secret_value())
    path = key_file_path(settings)
    if path is None:
        return None
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    return derive_key(path.read_text(encoding="ascii").strip())
