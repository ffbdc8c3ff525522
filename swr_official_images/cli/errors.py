"""How a command fails: a message on stderr and an exit status."""

from __future__ import annotations


class CommandFailed(Exception):
    """Ends a command with this message on stderr and exit status `status` (1 by default)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# What a shell reports for a command ended by SIGINT (128 + 2).
INTERRUPTED = 130
