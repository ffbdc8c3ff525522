"""How a command fails, decided in one place: the exception that ends it becomes lines on stderr
(each `error: ...`) and an exit status. A command raises; it never prints its own error.

Exceptions not listed here are bugs: they keep their traceback.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from swr_official_images.settings import SettingsError
from swr_official_images.store.access_keys import AccessKeyError
from swr_official_images.store.master_key import MasterKeyError
from swr_official_images.store.migrations import SchemaNotCurrent
from swr_official_images.store.tokens import TokenError

# What a shell reports for a command ended by SIGINT (128 + 2).
INTERRUPTED = 130
# A setting (variable, flag or .env line) the service cannot use: argparse's status for a bad
# command line, since a flag and its variable are checked alike.
BAD_SETTING = 2
FAILED = 1

# Errors whose message is already written for an operator (one line, no secret, no input echoed
# that could hold one): shown as they are.
_OPERATOR_ERRORS: tuple[type[Exception], ...] = (
    TokenError,
    AccessKeyError,
    MasterKeyError,
    SchemaNotCurrent,
)


class CommandFailed(Exception):
    """Ends a command with this message on stderr and exit status `status` (1 by default): for
    a failure whose message needs the command's context (which file, what was left undone)."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Failure:
    """What the operator is told, and the exit status."""

    message: str
    status: int


def failure_of(error: BaseException) -> Failure | None:
    """The failure an exception that ended a command stands for; None for a bug."""
    if isinstance(error, CommandFailed):
        return Failure(str(error), error.status)
    if isinstance(error, SettingsError):
        return Failure(str(error), BAD_SETTING)
    if isinstance(error, _OPERATOR_ERRORS):
        return Failure(str(error), FAILED)
    if isinstance(error, KeyboardInterrupt):
        return Failure("interrupted", INTERRUPTED)
    if isinstance(error, SQLAlchemyError):
        # An operator's mistake (wrong URL, database down) deserves one line, not a traceback.
        lines = str(getattr(error, "orig", None) or error).strip().splitlines()
        reason = lines[0] if lines else "(no detail)"
        return Failure(f"database: {error.__class__.__name__}: {reason}", FAILED)
    return None


def report(failure: Failure, stream: TextIO | None = None) -> int:
    """Write the failure on stderr, one `error: ` line per line of its message; its status."""
    stream = sys.stderr if stream is None else stream
    for line in failure.message.splitlines() or [""]:
        print(f"error: {line}", file=stream)
    return failure.status
