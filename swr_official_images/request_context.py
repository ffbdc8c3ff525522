"""What a request carries through every layer: its id, and the notes its access line collects.

A leaf that imports nothing of the package, so that every layer may share it: the middlewares
set the id, the error handling and the log lines read it; the security checks, the error
handling and the handlers leave notes that the access line and the metrics read.
"""

from __future__ import annotations

import contextvars
import os
from typing import Any

from starlette.types import Message, Scope

_SCOPE_KEY = "swr.request_id"

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_request_id", default="-"
)


# RFC 9562's variant bits (10) in the first hex digit of a UUID's fourth group.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def fresh_request_id() -> str:
    """A random (version 4) UUID, as str(uuid.uuid4()) writes it, built without the UUID
    object that every request would otherwise make, check and format."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:]}"


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


def notes_of(scope: Scope) -> dict[str, Any]:
    """The notes opened on `scope`, or a dict of no one's when none were (a layer used alone)."""
    notes: dict[str, Any] | None = scope.get(_NOTES)
    return {} if notes is None else notes


def note_response(notes: dict[str, Any], message: Message) -> None:
    """What the access line reports of the response, from each message sent: its status, and
    the bytes of its body."""
    kind = message["type"]
    if kind == "http.response.start":
        notes["status"] = message["status"]
    elif kind == "http.response.body":
        notes["sent"] = notes.get("sent", 0) + len(message.get("body", b""))


def response_of(notes: dict[str, Any]) -> tuple[int, int]:
    """The status and body bytes noted, (500, 0) when nothing was sent: the client then gets a
    500 from the server's outermost error handling."""
    return notes.get("status", 500), notes.get("sent", 0)


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
