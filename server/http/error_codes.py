"""SWR's error codes and error body, shared by the error handlers and the outermost middleware."""

from __future__ import annotations

from enum import StrEnum


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


# 5xx bodies never carry internals: this is all a client learns of a server failure.
INTERNAL_ERROR_MESSAGE = "Failed to get image information."


def error_body(code: ErrorCode, message: str, request_id: str) -> dict[str, str]:
    return {"error_code": code.value, "error_msg": message, "request_id": request_id}
