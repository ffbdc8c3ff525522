"""AK/SK request signing: the `SDK-HMAC-SHA256` scheme of Huawei Cloud's SDKs.

The server rebuilds the canonical request from the request it received, to verify its signature
(`http/aksk.py`). The generated client's package signs with its own copy of this canonical request
(`SdkHmacSha256Auth`, from `client-templates/package_init.py.jinja`), as a client must not need
the server installed; `tests/unit/test_signing.py` holds both to Huawei's SDK signer.

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
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote_to_bytes

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
