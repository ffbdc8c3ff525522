"""The security schemes' checks (openapi.yaml `x-apikeyInfoFunc`): `AuthToken` (an API token in
`X-Auth-Token`) and `AkSk` (an SDK-HMAC-SHA256 signature in `Authorization`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from connexion.exceptions import OAuthProblem, OAuthResponseProblem
from connexion.middleware.security import SecurityAPI, SecurityMiddleware, SecurityOperation
from connexion.security import NO_VALUE, ApiKeySecurityHandler
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from swr_official_images.http.aksk import SignatureRefusal, SignatureRefused, is_signature, verify
from swr_official_images.http.error_codes import ErrorCode, render_error
from swr_official_images.http.requests import ScopeRequest
from swr_official_images.request_context import (
    note_auth_failure,
    note_key_name,
    note_token_name,
    request_id_of,
)
from swr_official_images.store.access_keys import AccessKeyStore
from swr_official_images.store.cached_stores import CachedTokens
from swr_official_images.store.tokens import TokenRefusal, TokenRefused

log = logging.getLogger(__name__)

# Connexion's sentinel for "no credentials of this scheme", an object() it compares by identity.
NOT_OURS: object = NO_VALUE

# Every 401 falls in one of these: no credentials (or an empty token), two tokens, a token and
# a signature at once, a token that grants nothing (see TokenStore.verify), or a signature
# refused (see swr_official_images.http.aksk.SignatureRefusal). The access line and the metrics
# name them.
AUTH_FAILURE_REASONS = (
    "missing",
    "duplicate",
    "ambiguous",
    *(r.value for r in TokenRefusal),
    *(r.value for r in SignatureRefusal),
)

AMBIGUOUS = "both an X-Auth-Token and an SDK-HMAC-SHA256 signature; send one"


class AuthenticationRefused(OAuthResponseProblem):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """A 401 whose message the error body states (never the token itself), and its reason for
    the log and the metrics (one of `AUTH_FAILURE_REASONS`)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(detail=message)
        self.reason = reason


class ApiKeyHandler(ApiKeySecurityHandler):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """Connexion's API key handler, but the check it builds for each operation knows which
    arguments the scheme's function takes: Connexion's inspects the function's signature twice
    on every request."""

    def _generic_check(self, func: Any, exception_msg: str) -> Any:
        # As Connexion's AbstractSecurityHandler._generic_check, the inspection moved out.
        takes_scopes = self._accepts_kwarg(func, self.required_scopes_kw)
        takes_request = self._accepts_kwarg(func, self.request_kw)

        async def wrapper(request: Any, *args: Any, required_scopes: Any = None) -> Any:
            kwargs: dict[str, Any] = {}
            if takes_scopes:
                kwargs[self.required_scopes_kw] = required_scopes
            if takes_request:
                kwargs[self.request_kw] = request
            token_info = func(*args, **kwargs)
            while asyncio.iscoroutine(token_info):
                token_info = await token_info
            if token_info is NO_VALUE:
                return NO_VALUE
            if token_info is None:
                raise OAuthResponseProblem(detail=exception_msg)
            return token_info

        return wrapper


# For AsyncApp(security_map=...): every scheme Connexion knows keeps its handler but apiKey.
SECURITY_MAP = {"apiKey": ApiKeyHandler}


MISSING_MESSAGE = (
    "Authentication failed: neither an X-Auth-Token header nor an SDK-HMAC-SHA256 signature."
)


def refusal(exc: OAuthProblem) -> tuple[str, str]:
    """Why a request was not authenticated (one of `AUTH_FAILURE_REASONS`), and the message of
    its 401."""
    if isinstance(exc, AuthenticationRefused):
        return exc.reason, f"Authentication failed: {exc.detail}."
    if isinstance(exc, OAuthResponseProblem):
        # Connexion's own refusal of a token; ours (AuthenticationRefused) carry their reason.
        return "unknown", "Authentication failed: the token is unknown, expired or revoked."
    # Connexion's "no credentials": no scheme found any.
    return "missing", MISSING_MESSAGE


def refused_response(scope: Scope, exc: OAuthProblem) -> Response:
    """The 401 of a request not authenticated, its reason noted for the access line."""
    reason, message = refusal(exc)
    note_auth_failure(scope, reason)
    body = render_error(ErrorCode.AUTHENTICATION_FAILED, message, request_id_of(scope))
    # The headers in the error handlers' order: Connexion's response names its type first.
    return Response(body, 401, headers={"Content-Type": "application/json"})


class _ScopeRequestSecurityOperation(SecurityOperation):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """Connexion's security check of an operation, its request made directly, and a request it
    does not authenticate answered here: raised, the refusal would unwind through routing and
    every middleware out to the error handlers, which answer it with the same 401
    (`swr_official_images.http.errors.on_problem`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.security:
            await self.next_app(scope, receive, send)
            return
        try:
            await self.verification_fn(ScopeRequest(scope))
        except OAuthProblem as exc:
            try:
                await refused_response(scope, exc)(scope, receive, send)
            finally:
                # Its traceback holds Connexion's check's frame, which holds the exception: a
                # cycle for the garbage collector. Starlette's error handling drops it too.
                exc.__traceback__ = None
            return
        await self.next_app(scope, receive, send)


class _ScopeRequestSecurityAPI(SecurityAPI):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    def make_operation(self, operation: Any) -> SecurityOperation:
        return _ScopeRequestSecurityOperation.from_operation(
            operation,
            next_app=self.next_app,
            security_handler_factory=self.security_handler_factory,
        )


class ScopeRequestSecurityMiddleware(SecurityMiddleware):  # type: ignore[misc]  # connexion ships no py.typed: its classes are Any to mypy
    """Connexion's security middleware, each operation's check given a `ScopeRequest`."""

    api_cls = _ScopeRequestSecurityAPI


async def token_info(token: str, request: Any) -> dict[str, Any] | None:
    """Connexion calls this with the `X-Auth-Token` value; None makes it answer 401."""
    scope = request.scope
    # One pass over the raw header list (ASGI's names are lower case), instead of one per name.
    tokens_sent, signed = 0, False
    for name, value in scope["headers"]:
        if name == b"x-auth-token":
            tokens_sent += 1
        elif name == b"authorization" and is_signature(value.decode("latin-1")):
            signed = True
    # Two tokens are ambiguous: which one a proxy or a server reads would decide who you are.
    if tokens_sent > 1:
        raise AuthenticationRefused("more than one X-Auth-Token header", "duplicate")
    # Two identities at once are as ambiguous as two tokens.
    if signed:
        raise AuthenticationRefused(AMBIGUOUS, "ambiguous")
    # Whitespace around a field value is not part of it (RFC 9110, section 5.5); the HTTP parser
    # leaves trailing whitespace in place.
    token = token.strip(" \t")
    if not token:
        raise AuthenticationRefused("the X-Auth-Token header is empty", "missing")
    # The lifespan's state, as request.state would wrap it.
    tokens: CachedTokens = scope["state"]["token_cache"]
    try:
        info = await tokens.verify(token)
    except TokenRefused as rejected:
        # One message for all three: telling a caller that a token was real once (expired,
        # revoked) would help whoever holds a stolen one. The operator sees the reason.
        raise AuthenticationRefused(
            "the token is unknown, expired or revoked", rejected.reason.value
        ) from None
    note_token_name(scope, info.name)
    return {"sub": info.name}


async def signature_info(authorization: str, request: Any) -> dict[str, Any] | object | None:
    """Connexion calls this with the `Authorization` value (the `AkSk` scheme). The claims,
    None (401), or NOT_OURS for a scheme that is not ours."""
    if not is_signature(authorization):
        # Some other scheme (a proxy's Basic, a Bearer token): not ours to judge, so the request
        # is as unauthenticated as without it, or the X-Auth-Token decides.
        return NOT_OURS
    if "x-auth-token" in request.headers:
        raise AuthenticationRefused(AMBIGUOUS, "ambiguous")
    keys: AccessKeyStore = request.state.access_keys
    try:
        signed_by = await run_in_threadpool(verify, request.scope, keys)
    except SignatureRefused as exc:
        raise AuthenticationRefused(str(exc), exc.reason.value) from None
    log.info("signed request: access key %r", signed_by.key_name)
    note_key_name(request.scope, signed_by.key_name)
    return {"sub": signed_by.key_name}
