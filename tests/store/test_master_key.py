"""The master key that encrypts AK/SK secrets: only a real key is used (SWR_SECRET_KEY or the key
file), a key file others may read is refused, and a key file that cannot be used is one line,
never a traceback, and never stops what does not need the key (tokens, `key list`)."""

from __future__ import annotations

import base64
import logging
import os
import sqlite3
import stat
from pathlib import Path

import httpx
import pytest
from swr_official_images_client import SdkHmacSha256Auth

import swr_official_images.store.master_key
from swr_official_images.settings import Settings
from swr_official_images.store.master_key import key_file_path
from tests.conftest import migrate, run_cli, start_loaded_server
from tests.support.contract import path_for

NGINX = path_for("official", "nginx")
A_KEY = base64.b64encode(bytes(range(1, 33))).decode("ascii")  # as `openssl rand -base64 32`


def key_cli(database_url: str, *argv: str, secret_key: str | None = None):
    environ = {"SWR_SECRET_KEY": secret_key} if secret_key is not None else {}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        return run_cli(database_url, "key", *argv)


@pytest.mark.parametrize(
    "value",
    [
        " " * 40,
        "a" * 32,
        "a-master-key-for-the-tests-only-0123456789",
        base64.b64encode(bytes(16)).decode(),  # too short
        base64.b64encode(bytes(range(48))).decode(),  # too long
        A_KEY.rstrip("="),  # padding lost
        A_KEY + " ",
        "\u00e9" * 44,
    ],
    ids=["spaces", "32-letters", "a-phrase", "16-bytes", "48-bytes", "unpadded", "space", "é"],
)
def test_a_secret_key_that_is_not_a_real_key_stops_the_cli_with_status_2(tmp_path, value):
    database = tmp_path / "never.db"

    result = key_cli(f"sqlite:///{database}", "list", secret_key=value)

    assert (result.code, result.out) == (2, ""), result.err
    assert result.err.startswith("error: SWR_SECRET_KEY: not a master key"), result.err
    assert result.err.count("\n") == 1
    assert not value.strip() or value not in result.err
    assert not database.exists()


@pytest.mark.parametrize(
    "value",
    [A_KEY, base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode()],
    ids=["base64", "url-safe base64"],
)
def test_a_real_secret_key_is_used(tmp_path, value):
    url = migrate(f"sqlite:///{tmp_path}/store.db")

    result = key_cli(url, "create", "ci", secret_key=value)

    assert result.code == 0, result.err
    assert not key_file_path(Settings(database_url=url)).exists()  # SWR_SECRET_KEY, not a file


def test_the_key_file_made_on_first_use_is_a_real_private_key(tmp_path):
    url = migrate(f"sqlite:///{tmp_path}/store.db")

    assert key_cli(url, "create", "ci").code == 0

    path = key_file_path(Settings(database_url=url))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.urlsafe_b64decode(path.read_text(encoding="ascii").strip())) == 32


def _write_key_file(url: str, content: bytes, mode: int = 0o600) -> Path:
    path = key_file_path(Settings(database_url=url))
    assert path is not None
    path.write_bytes(content)
    path.chmod(mode)
    return path


BAD_KEY_FILES = {
    "empty": b"",
    "a-newline": b"\n",
    "spaces": b" " * 40 + b"\n",
    "short": b"secret\n",
    "hex": bytes(range(32)).hex().encode() + b"\n",
    "binary": bytes(range(256)) * 8,
    "sqlite": b"SQLite format 3\x00" + bytes(4096),
}


@pytest.mark.parametrize("content", BAD_KEY_FILES.values(), ids=BAD_KEY_FILES.keys())
def test_a_key_file_that_is_not_a_real_key_is_one_line_and_only_where_it_is_needed(
    tmp_path, content
):
    url = migrate(f"sqlite:///{tmp_path}/store.db")
    path = _write_key_file(url, content)

    created = key_cli(url, "create", "ci")
    listed = key_cli(url, "list")

    assert (created.code, created.out) == (1, "")
    assert (
        created.err == f"error: key file {path}: not a master key (32 random bytes in base64, "
        "as the service makes it)\n"
    ), created.err
    assert listed.code == 0 and listed.err == "", listed.err
    assert path.read_bytes() == content  # never replaced: secrets may be encrypted under it


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644], ids=oct)
def test_a_key_file_others_may_read_or_write_is_refused(tmp_path, mode):
    url = migrate(f"sqlite:///{tmp_path}/store.db")
    path = _write_key_file(url, A_KEY.encode() + b"\n", mode)

    created = key_cli(url, "create", "ci")

    assert (created.code, created.out) == (1, "")
    assert created.err == (
        f"error: key file {path}: other users may read or change it (mode {mode:04o}); "
        f"make it private: chmod 600 {path}\n"
    ), created.err
    assert key_cli(url, "list").code == 0


def test_a_key_file_that_is_a_directory_is_one_line(tmp_path):
    url = migrate(f"sqlite:///{tmp_path}/store.db")
    path = key_file_path(Settings(database_url=url))
    assert path is not None
    path.mkdir()

    created = key_cli(url, "create", "ci")

    assert (created.code, created.err) == (1, f"error: key file {path}: not a regular file\n")
    assert key_cli(url, "list").code == 0


def test_an_unreadable_key_file_is_one_line(tmp_path, monkeypatch):
    url = migrate(f"sqlite:///{tmp_path}/store.db")
    path = _write_key_file(url, A_KEY.encode() + b"\n")
    real_open = os.open

    def refused(name, *args, **kwargs):
        if Path(name) == path:
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)

    # The suite may run as root, who reads a file whatever its mode.
    monkeypatch.setattr(swr_official_images.store.master_key.os, "open", refused)
    created = key_cli(url, "create", "ci")

    assert created.code == 1
    assert created.err == f"error: key file {path}: cannot read it: Permission denied\n"


def test_a_key_file_that_cannot_be_made_is_one_line(tmp_path):
    # A name at the file system's limit leaves no room for the temporary file the key is
    # written to first (a full or read-only disk fails the same way, but not in a test).
    url = migrate(f"sqlite:///{tmp_path}/{'a' * 242}.db")
    path = key_file_path(Settings(database_url=url))

    created = key_cli(url, "create", "ci")

    assert (created.code, created.out) == (1, "")
    assert created.err == f"error: key file {path}: cannot create it: File name too long\n"
    assert key_cli(url, "list").code == 0


def test_a_sqlite_database_named_dot_key_is_not_its_own_key_file(tmp_path):
    url = migrate(f"sqlite:///{tmp_path}/catalog.key")

    created = key_cli(url, "create", "ci")
    token = run_cli(url, "token", "create", "ci")

    assert created.code == 0, created.err
    assert token.code == 0, token.err
    assert key_file_path(Settings(database_url=url)) == tmp_path / "catalog.key.key"
    with sqlite3.connect(tmp_path / "catalog.key") as conn:
        assert conn.execute("SELECT count(*) FROM access_keys").fetchone() == (1,)


def test_a_server_with_an_unusable_key_file_serves_tokens_and_says_why_once(
    tmp_path, catalog_file, caplog
):
    url = f"sqlite:///{tmp_path}/store.db"
    path = _write_key_file(url, b"")
    caplog.set_level(logging.WARNING)

    with start_loaded_server(url, catalog_file) as live:
        token = httpx.get(live.base_url + NGINX, headers={"X-Auth-Token": live.tokens.valid})
        signed = httpx.get(live.base_url + NGINX, auth=SdkHmacSha256Auth("A" * 20, "s" * 40))

    assert token.status_code == 200
    assert signed.status_code == 401
    lines = [r for r in caplog.records if "AK/SK request signing is off" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelno == logging.ERROR
    assert f"key file {path}: not a master key" in lines[0].getMessage()
