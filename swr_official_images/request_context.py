"""What a request carries through every layer: its id, and the notes its access line collects.

A leaf that imports nothing of the package, so that every layer may share it: the middlewares
set the id, the error handling and the log lines read it; the security checks, the error
handling and the handlers leave notes that the access line and the metrics read.
"""

from __future__ import annotations

import contextvars
from typing import Any

from starlette.types import Scope

_SCOPE_KEY = "swr.request_id"

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_request_id", default="-"
)


def bind_request_id(scope: Scope, request_id: str) -> contextvars.Token[str]:
    """The request's id, on its scope and in the context; reset the token when it ends."""
    scope[_SCOPE_KEY] = request_id
    return current_request_id.set(request_id)


def request_id_of(scope: Scope) -> str:
    request_id: str | None = scope.get(_SCOPE_KEY)
    return request_id or current_request_id.get()


# Layers further in may see a copy of the scope, not the scope itself: notes go into a dict
# that every copy shares.
_NOTES = "swr.notes"


def open_notes(scope: Scope) -> dict[str, Any]:
    """The notes of the request that starts on `scope`, empty until layers further in add
    to them."""
    notes: dict[str, Any] = {}
    scope[_NOTES] = notes
    return notes


def _note(scope: Scope, key: str, value: object) -> None:
    notes = scope.get(_NOTES)
    if notes is not None:
        notes[key] = value


def note_token_name(scope: Scope, name: str) -> None:
    _note(scope, "token_name", name)


def note_key_name(scope: Scope, name: str) -> None:
    """The name of the access key that signed the request: never its id, secret or signature."""
    _note(scope, "key_name", name)


def note_auth_failure(scope: Scope, reason: str) -> None:
    _note(scope, "auth_failure", reason)


def note_database_error(scope: Scope) -> None:
    _note(scope, "database_error", True)
