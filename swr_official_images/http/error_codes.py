"""SWR's error codes and the one renderer of its error body, for every layer that answers an
error: the transport, the middlewares, CORS and the error handlers."""

from __future__ import annotations

import functools
import json
from enum import StrEnum
from json.encoder import encode_basestring_ascii


class ErrorCode(StrEnum):
    # Codes SWR documents for this operation (see openapi.yaml's responses).
    INVALID_PARAMETER = "SVCSTG.SWR.4000014"
    AUTHENTICATION_FAILED = "SVCSTG.SWR.4010000"
    IMAGE_NOT_FOUND = "SVCSTG.SWR.4040010"
    IMAGE_QUERY_FAILED = "SVCSTG.SWR.5000002"
    # Paths and methods outside the API have no SWR code of their own; these follow SWR's
    # SVCSTG.SWR.<status><4 digits> form.
    NO_SUCH_RESOURCE = "SVCSTG.SWR.4040000"
    METHOD_NOT_ALLOWED = "SVCSTG.SWR.4050000"
    NOT_READY = "SVCSTG.SWR.5030000"


# 5xx bodies never carry internals: this is all a client learns of a server failure.
INTERNAL_ERROR_MESSAGE = "Failed to get image information."
# All a client learns of why /readyz refused: the reason is in the log.
NOT_READY_MESSAGE = "The service is not ready."


def render_error(code: ErrorCode, message: str, request_id: str) -> bytes:
    """The `application/json` body of every error response: SWR's, plus the request id.

    The bytes `json.dumps` writes for the whole document, the part before the request id
    written once per code and message."""
    return _opening(code, message) + encode_basestring_ascii(request_id).encode() + b"}"


# Keyed by the few (code, message) pairs the layers answer with; bounded all the same, since
# some messages name a parameter or a signature's fault.
@functools.lru_cache(maxsize=256)
def _opening(code: ErrorCode, message: str) -> bytes:
    document = json.dumps({"error_code": code.value, "error_msg": message})
    return (document[:-1] + ', "request_id": ').encode()
