"""AK/SK request signing: the `SDK-HMAC-SHA256` scheme of Huawei Cloud's SDKs.

The same functions build the canonical request on both sides: the server rebuilds it from the
request it received, and `SdkHmacSha256Auth` (an `httpx.Auth`) signs the generated client's
requests with it. This module depends on nothing of the server's, so a client may copy it alone.

    canonical request = METHOD \\n canonical URI \\n canonical query \\n
                        canonical headers (one "name:value\\n" per signed header) \\n
                        signed headers (names joined by ";") \\n hex SHA-256 of the body
    string to sign    = "SDK-HMAC-SHA256" \\n X-Sdk-Date \\n hex SHA-256 of the canonical request
    signature         = hex HMAC-SHA256(secret access key, string to sign)
    Authorization     = SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b;c, Signature=hex
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Generator, Iterable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote_to_bytes

import httpx

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "X-Sdk-Date"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
# SHA-256 of no bytes: every operation of this API takes no body.
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


def _encode(value: bytes | str) -> str:
    # The SDK's encoding: everything but unreserved characters, and "~" kept.
    return quote(value, safe="~")


def canonical_uri(raw_path: bytes | str) -> str:
    """The path decoded, then each segment percent-encoded, with a trailing "/": a name sent as
    `$` or as `%24` gives the same canonical URI, as the SDK's signer computes it."""
    raw = raw_path.encode("latin-1") if isinstance(raw_path, str) else raw_path
    uri = "/".join(_encode(segment) for segment in unquote_to_bytes(raw).split(b"/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(raw_query: bytes | str) -> str:
    """The query's (name, value) pairs, decoded exactly as the server's framework reads them
    (`+` is a space, percent-escapes are UTF-8), sorted, each re-encoded: `a=1&b=2`.

    Decoding as the reader does is what makes the signature cover what the server acts on: a
    request signed for `a%2Bb` (a "+") does not verify when sent as `a+b` (a space)."""
    raw = raw_query.decode("latin-1") if isinstance(raw_query, bytes) else raw_query
    # Starlette's QueryParams: parse_qsl of the query string read as Latin-1.
    pairs = sorted(parse_qsl(raw, keep_blank_values=True))
    return "&".join(f"{_encode(name)}={_encode(value)}" for name, value in pairs)


def canonical_request(
    method: str,
    raw_path: bytes | str,
    raw_query: bytes | str,
    headers: Iterable[tuple[str, bytes]],
    payload_sha256: str = EMPTY_BODY_SHA256,
) -> bytes:
    """`headers`: the signed headers in signing order, lower-case names and their raw values."""
    headers = list(headers)
    lines = b"".join(name.encode("ascii") + b":" + value.strip() + b"\n" for name, value in headers)
    return b"\n".join(
        [
            method.upper().encode("ascii"),
            canonical_uri(raw_path).encode("ascii"),
            canonical_query(raw_query).encode("ascii"),
            lines,
            ";".join(name for name, _ in headers).encode("ascii"),
            payload_sha256.encode("ascii"),
        ]
    )


def string_to_sign(canonical: bytes, sdk_date: str) -> bytes:
    digest = hashlib.sha256(canonical).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}".encode("ascii")


def signature(secret_key: str, to_sign: bytes) -> str:
    return hmac.new(secret_key.encode("utf-8"), to_sign, hashlib.sha256).hexdigest()


def authorization(access_key: str, signed_headers: Iterable[str], signature_hex: str) -> str:
    return (
        f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed_headers)}, "
        f"Signature={signature_hex}"
    )


class SdkHmacSha256Auth(httpx.Auth):
    """Signs each request as Huawei Cloud's SDKs do with `BasicCredentials(ak, sk)`: pass it
    to the generated client as `httpx_args={"auth": SdkHmacSha256Auth(ak, sk)}`."""

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        clock: object = None,
    ) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._clock = clock or (lambda: datetime.now(UTC))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[DATE_HEADER] = self._clock().strftime(DATE_FORMAT)  # type: ignore[operator]
        # The SDK signs every header it sends whose name has no "_"; httpx's own Host, too.
        names = sorted(
            {name.lower() for name in request.headers if "_" not in name} - {"authorization"}
        )
        headers = [(name, request.headers[name].encode("utf-8")) for name in names]
        payload = hashlib.sha256(request.content).hexdigest() if request.content else None
        canonical = canonical_request(
            request.method,
            request.url.raw_path.partition(b"?")[0],
            request.url.query,
            headers,
            payload or EMPTY_BODY_SHA256,
        )
        to_sign = string_to_sign(canonical, request.headers[DATE_HEADER])
        request.headers["Authorization"] = authorization(
            self._access_key, names, signature(self._secret_key, to_sign)
        )
        yield request
