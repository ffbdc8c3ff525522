"""The `AuthToken` security scheme's check (openapi.yaml `x-apikeyInfoFunc`)."""

from __future__ import annotations

from typing import Any

from connexion.exceptions import OAuthResponseProblem
from starlette.concurrency import run_in_threadpool

from server.store.tokens import TokenStore


class AuthenticationFailed(OAuthResponseProblem):
    """A 401 whose reason the error body states (never the token itself)."""

    def __init__(self, reason: str) -> None:
        super().__init__(detail=reason)


async def token_info(token: str, request: Any) -> dict[str, Any] | None:
    """Connexion calls this with the `X-Auth-Token` value; None makes it answer 401."""
    # Two tokens are ambiguous: which one a proxy or a server reads would decide who you are.
    if len(request.headers.getlist("x-auth-token")) > 1:
        raise AuthenticationFailed("more than one X-Auth-Token header")
    # Whitespace around a field value is not part of it (RFC 9110, section 5.5); the HTTP parser
    # leaves trailing whitespace in place.
    token = token.strip(" \t")
    if not token:
        raise AuthenticationFailed("the X-Auth-Token header is empty")
    tokens: TokenStore = request.state.tokens
    # The store does blocking I/O: keep it off the event loop.
    info = await run_in_threadpool(tokens.verify, token)
    return None if info is None else {"sub": info.name}
