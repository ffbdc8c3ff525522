"""Where failures become HTTP responses: every error raised through the layers is answered
here. Two frequent answers are given where they are found, with the bodies made here or from
the same parts: the image's 404 (`image_not_found`, returned by its handler) and the security
layer's 401 (`swr_official_images.http.security.refused_response`).

Every failure answers with SWR's error body `{error_code, error_msg, request_id}` and the
`X-Request-Id` header (added by `swr_official_images.http.middleware`). Server errors say only
that they failed; the detail and the request id go to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from connexion import AsyncApp
from connexion.exceptions import (
    ExtraParameterProblem,
    OAuthProblem,
    ProblemException,
)
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

from swr_official_images.domain import ImageNotFound
from swr_official_images.http.error_codes import (
    INTERNAL_ERROR_MESSAGE,
    NOT_READY_MESSAGE,
    ErrorCode,
    render_error,
)
from swr_official_images.http.routing import AllowedMethods
from swr_official_images.http.security import refusal
from swr_official_images.request_context import (
    note_auth_failure,
    note_database_error,
    request_id_of,
)

log = logging.getLogger(__name__)


def error_response(
    request: ConnexionRequest,
    status: int,
    code: ErrorCode,
    message: str,
    headers: dict[str, str] | None = None,
) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status,
        mimetype="application/json",
        content_type="application/json",
        body=render_error(code, message, request_id_of(request.scope)),
        headers=headers or {},
    )


def _internal_error(request: ConnexionRequest) -> ConnexionResponse:
    return error_response(request, 500, ErrorCode.IMAGE_QUERY_FAILED, INTERNAL_ERROR_MESSAGE)


async def on_problem(request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    """Connexion's own failures: request validation, security, response validation."""
    if isinstance(exc, OAuthProblem):
        # The security layer answers its own refusals (`refused_response`); one raised
        # anywhere else gets the same 401.
        reason, message = refusal(exc)
        note_auth_failure(request.scope, reason)
        return error_response(request, 401, ErrorCode.AUTHENTICATION_FAILED, message)
    if isinstance(exc, ExtraParameterProblem):
        # Its detail lists the unknown names, which are input: never echo them.
        return error_response(
            request, 400, ErrorCode.INVALID_PARAMETER, "Unknown query parameter(s)."
        )
    if exc.status == 400:
        # Our ParameterValidator keeps these short and free of the input
        # (swr_official_images.http.validation).
        return error_response(request, 400, ErrorCode.INVALID_PARAMETER, str(exc.detail)[:120])
    if exc.status >= 500:
        # Response validation lands here: the server broke its own contract.
        log.error("server error %s: %s", exc.status, exc.detail, exc_info=exc)
        return _internal_error(request)
    log.warning("unexpected client problem %s: %s", exc.status, exc.detail)
    return error_response(request, 400, ErrorCode.INVALID_PARAMETER, "Bad request.")


def http_exception_handler(
    allowed: AllowedMethods,
) -> Callable[[ConnexionRequest, HTTPException], Awaitable[ConnexionResponse]]:
    async def on_http_exception(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
        """Starlette's routing failures: no route (404) or a method the path does not serve."""
        if exc.status_code == 405:
            headers = dict(exc.headers or {})
            headers["Allow"] = allowed.for_path(request.url.path) or headers.get("Allow", "")
            return error_response(
                request, 405, ErrorCode.METHOD_NOT_ALLOWED, "Method not allowed.", headers
            )
        if exc.status_code == 404:
            return error_response(request, 404, ErrorCode.NO_SUCH_RESOURCE, "No such resource.")
        if exc.status_code < 500:
            # Starlette's other refusals (e.g. a multipart Content-Type without a boundary) are
            # requests it could not read: 400, the status the spec documents for those.
            log.info("request refused by the framework: %s %s", exc.status_code, exc.detail)
            return error_response(request, 400, ErrorCode.INVALID_PARAMETER, "Bad request.")
        log.error("unexpected HTTP exception %s: %s", exc.status_code, exc.detail, exc_info=exc)
        return _internal_error(request)

    return on_http_exception


_IMAGE_NOT_FOUND_MESSAGE = "Image does not exist."


def image_not_found(scope: Scope) -> Response:
    """The 404 of an image the catalog does not hold, as the image's handlers return it: raised,
    `ImageNotFound` would unwind through every layer to `on_image_not_found`. The framework's
    response, which Connexion passes on as it is: the same status, headers and body as
    `error_response`'s."""
    body = render_error(ErrorCode.IMAGE_NOT_FOUND, _IMAGE_NOT_FOUND_MESSAGE, request_id_of(scope))
    return Response(body, 404, media_type="application/json")


async def on_image_not_found(request: ConnexionRequest, exc: ImageNotFound) -> ConnexionResponse:
    # Any other layer that raises it.
    return error_response(request, 404, ErrorCode.IMAGE_NOT_FOUND, _IMAGE_NOT_FOUND_MESSAGE)


async def on_not_ready(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.warning("not ready: %s", exc)
    return error_response(request, 503, ErrorCode.NOT_READY, NOT_READY_MESSAGE)


async def on_crash(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    if isinstance(exc, SQLAlchemyError):
        note_database_error(request.scope)
    log.error("request failed", exc_info=exc)
    return _internal_error(request)


def register_error_handlers(
    app: AsyncApp, spec: dict[str, Any], not_ready: tuple[type[Exception], ...] = ()
) -> None:
    """`not_ready`: the errors that say the process should not be sent requests (503), raised
    by the layers the app wires in below the handlers."""
    app.add_error_handler(ProblemException, on_problem)
    app.add_error_handler(HTTPException, http_exception_handler(AllowedMethods(spec)))
    app.add_error_handler(ImageNotFound, on_image_not_found)
    for error in not_ready:
        app.add_error_handler(error, on_not_ready)
    app.add_error_handler(Exception, on_crash)
