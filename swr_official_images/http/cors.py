"""CORS, off unless origins are configured (SWR_CORS_ALLOW_ORIGINS)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from swr_official_images.http.error_codes import ErrorCode, render_error
from swr_official_images.request_context import current_request_id


class SwrCorsMiddleware(CORSMiddleware):
    """Starlette's CORS, whose refused preflights answer with the SWR error body, not text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        body = render_error(
            ErrorCode.INVALID_PARAMETER, "CORS preflight refused.", current_request_id.get()
        )
        headers = {k: v for k, v in response.headers.items() if k.lower().startswith("access-")}
        return Response(body, status_code=400, headers=headers, media_type="application/json")


def cors_options(origins: tuple[str, ...]) -> dict[str, list[str] | int]:
    return {
        "allow_origins": list(origins),
        "allow_methods": ["GET", "HEAD"],
        # The conditional request headers and the validators they need, so that a browser
        # can revalidate what it holds (304) instead of fetching it again.
        "allow_headers": ["X-Auth-Token", "X-Request-Id", "If-None-Match", "If-Modified-Since"],
        "expose_headers": ["X-Request-Id", "ETag", "Last-Modified"],
        "max_age": 600,
    }
