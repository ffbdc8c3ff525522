"""The `AuthToken` security scheme's check (openapi.yaml `x-apikeyInfoFunc`)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from server.tokens import TokenStore


async def token_info(token: str, request: Any) -> dict[str, Any] | None:
    """Connexion calls this with the `X-Auth-Token` value; None makes it answer 401."""
    tokens: TokenStore = request.state.tokens
    # The store does blocking I/O: keep it off the event loop.
    info = await run_in_threadpool(tokens.verify, token)
    return None if info is None else {"sub": info.name}
