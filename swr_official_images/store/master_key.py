"""The master key that encrypts AK/SK secrets: `SWR_SECRET_KEY`, or on the embedded SQLite store
a key file beside the database, created with mode 0600 on first use."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from swr_official_images.settings import MASTER_KEY_BYTES, Settings, is_master_key

# Binds derived keys to this use: the same SWR_SECRET_KEY used elsewhere yields another key.
_KDF_INFO = b"swr-official-images access key secrets v1"

# A key file holds 45 bytes; reading more of a file that is something else gains nothing.
_KEY_FILE_READ_LIMIT = 1024


class MasterKeyError(Exception):
    """The key file exists (or must be made) but cannot be used; one line for an operator."""


def derive_key(secret: str) -> bytes:
    """An AES-256 key from the configured master key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO).derive(
        secret.encode("utf-8")
    )


def key_file_path(settings: Settings) -> Path | None:
    """Where the embedded default keeps its master key: `var/official-images.key` beside
    `var/official-images.db`. None when the store is not a SQLite file."""
    database = settings.sqlite_path()
    if database is None:
        return None
    path = database.with_suffix(".key")
    # A database named *.key must not be taken for its own key file.
    return path if path != database else database.with_name(database.name + ".key")


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    # Written in full under a temporary name, then linked into place: several workers starting
    # at once agree on one key, and none ever reads a half-written file.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            key = secrets.token_bytes(MASTER_KEY_BYTES)
            file.write(base64.urlsafe_b64encode(key).decode("ascii") + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_key_file(path: Path) -> str:
    try:
        # Non-blocking: a FIFO in its place must not hang the start.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise MasterKeyError(f"key file {path}: cannot read it: {exc.strerror}") from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise MasterKeyError(f"key file {path}: not a regular file")
        # Refused rather than warned about, as ssh does with a private key: whoever may read it
        # decrypts every secret, whoever may change it has the next ones encrypted under theirs.
        mode = stat.S_IMODE(status.st_mode)
        if mode & 0o077:
            raise MasterKeyError(
                f"key file {path}: other users may read or change it (mode {mode:04o}); "
                f"make it private: chmod 600 {path}"
            )
        data = os.read(fd, _KEY_FILE_READ_LIMIT)
    except OSError as exc:
        raise MasterKeyError(f"key file {path}: cannot read it: {exc.strerror}") from None
    finally:
        os.close(fd)
    text = data.decode("ascii", errors="replace").strip()
    if not is_master_key(text):
        # Never replaced by a new one: secrets may be encrypted under what it held.
        raise MasterKeyError(
            f"key file {path}: not a master key (32 random bytes in base64, as the service "
            "makes it)"
        )
    return text


def load_master_key(settings: Settings, *, create: bool) -> bytes | None:
    """The master key, or None when there is none: no `SWR_SECRET_KEY` and no key file (on
    PostgreSQL there never is one). `create` makes the key file on a SQLite store. Raises
    MasterKeyError when the key file cannot be made, read, or does not hold a real key."""
    if settings.secret_key is not None:
        # Checked with the other settings: a real key.
        return derive_key(settings.secret_key.get_secret_value())
    path = key_file_path(settings)
    if path is None:
        return None
    if not path.exists():
        if not create:
            return None
        try:
            _create_key_file(path)
        except OSError as exc:
            raise MasterKeyError(f"key file {path}: cannot create it: {exc.strerror}") from None
    return derive_key(_read_key_file(path))
