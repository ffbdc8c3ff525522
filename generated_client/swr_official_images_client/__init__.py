"""A client library for accessing SWR official images"""

import hashlib
import hmac
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote_to_bytes

import httpx

from .client import AuthenticatedClient, Client

__all__ = (
    "AuthenticatedClient",
    "Client",
    "SdkHmacSha256Auth",
)


def _encode(value: bytes | str) -> str:
    # The SDK's encoding: everything but unreserved characters, and "~" kept.
    return quote(value, safe="~")


def _canonical_uri(raw_path: bytes) -> str:
    # Decoded, then each segment encoded again: `$` and `%24` sign alike, as with the SDK.
    uri = "/".join(_encode(segment) for segment in unquote_to_bytes(raw_path).split(b"/"))
    return uri if uri.endswith("/") else uri + "/"


def _canonical_query(raw_query: bytes) -> str:
    # The pairs decoded as the service reads them ("+" is a space), sorted, encoded again.
    pairs = sorted(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True))
    return "&".join(f"{_encode(name)}={_encode(value)}" for name, value in pairs)


class SdkHmacSha256Auth(httpx.Auth):
    """Signs each request with an access key (AK) and its secret key (SK), in the
    `SDK-HMAC-SHA256` scheme that Huawei Cloud's SDKs use with `BasicCredentials(ak, sk)`.

    Give it to a client in place of a token:
    `Client(base_url=..., httpx_args={"auth": SdkHmacSha256Auth(ak, sk)})`. It sets `X-Sdk-Date`
    and `Authorization`, and signs every header the request carries whose name has no `_`.

        canonical request = METHOD \\n canonical URI \\n canonical query \\n
                            canonical headers (one "name:value\\n" per signed header) \\n
                            signed headers (names joined by ";") \\n hex SHA-256 of the body
        string to sign    = "SDK-HMAC-SHA256" \\n X-Sdk-Date \\n hex SHA-256 of the canonical request
        signature         = hex HMAC-SHA256(secret key, string to sign)
        Authorization     = SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b;c, Signature=hex
    """

    requires_request_body = True

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._clock = clock or (lambda: datetime.now(UTC))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sdk_date = self._clock().strftime("%Y%m%dT%H%M%SZ")  # the clock tells UTC
        request.headers["X-Sdk-Date"] = sdk_date
        # The SDK signs every header it sends whose name has no "_"; httpx's own Host, too.
        names = sorted({name.lower() for name in request.headers if "_" not in name} - {"authorization"})
        canonical = "\n".join(
            [
                request.method.upper(),
                _canonical_uri(request.url.raw_path.partition(b"?")[0]),
                _canonical_query(request.url.query),
                "".join(f"{name}:{request.headers[name].strip()}\n" for name in names),
                ";".join(names),
                hashlib.sha256(request.content).hexdigest(),
            ]
        )
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        to_sign = f"SDK-HMAC-SHA256\n{sdk_date}\n{digest}".encode("ascii")
        signature = hmac.new(self._secret_key.encode("utf-8"), to_sign, hashlib.sha256).hexdigest()
        request.headers["Authorization"] = (
            f"SDK-HMAC-SHA256 Access={self._access_key}, SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        yield request
