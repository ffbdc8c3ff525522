"""The command line's one mapping from the exception that ends a command to what the operator
reads on stderr and the exit status."""

from __future__ import annotations

import io

import pytest
from sqlalchemy.exc import OperationalError

from swr_official_images.cli import main as cli_main
from swr_official_images.cli.errors import (
    BAD_SETTING,
    INTERRUPTED,
    CommandFailed,
    Failure,
    failure_of,
    report,
)
from swr_official_images.cli.parser import build_parser
from swr_official_images.settings import SettingsError
from swr_official_images.store.access_keys import AccessKeyError
from swr_official_images.store.master_key import MasterKeyError
from swr_official_images.store.migrations import SchemaNotCurrent
from swr_official_images.store.tokens import TokenError


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            CommandFailed("export failed: cannot write out"),
            Failure("export failed: cannot write out", 1),
        ),
        (CommandFailed("import interrupted", INTERRUPTED), Failure("import interrupted", 130)),
        (SettingsError("SWR_PORT: bad\nSWR_HOST: bad"), Failure("SWR_PORT: bad\nSWR_HOST: bad", 2)),
        (TokenError("no token named 'x'"), Failure("no token named 'x'", 1)),
        (AccessKeyError("no key named 'x'"), Failure("no key named 'x'", 1)),
        (MasterKeyError("key file unreadable"), Failure("key file unreadable", 1)),
        (SchemaNotCurrent("run migrate first"), Failure("run migrate first", 1)),
        (KeyboardInterrupt(), Failure("interrupted", 130)),
    ],
)
def test_an_operator_error_becomes_its_message_and_status(error, expected):
    assert failure_of(error) == expected


def test_a_database_error_is_one_line_naming_its_kind():
    error = OperationalError(
        "SELECT 1", {}, ConnectionRefusedError("connection refused\nis it up?")
    )

    assert failure_of(error) == Failure("database: OperationalError: connection refused", 1)


@pytest.mark.parametrize("error", [RuntimeError("bug"), ValueError("bug"), KeyError("bug")])
def test_any_other_exception_is_a_bug_and_keeps_its_traceback(error, monkeypatch):
    assert failure_of(error) is None

    def crash(*args: object) -> int:
        raise error

    # The parser binds each command when built: build one with the crashing command.
    monkeypatch.setattr("swr_official_images.cli.config.cmd_config", crash)
    build_parser.cache_clear()
    try:
        with pytest.raises(type(error)):
            cli_main(["config"])
    finally:
        build_parser.cache_clear()


def test_every_line_of_a_message_is_an_error_line():
    stream = io.StringIO()

    status = report(Failure("SWR_PORT: bad\nSWR_HOST: bad", BAD_SETTING), stream)

    assert status == 2
    assert stream.getvalue() == "error: SWR_PORT: bad\nerror: SWR_HOST: bad\n"
