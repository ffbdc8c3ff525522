"""Verifying an `SDK-HMAC-SHA256` signature against the request as it was received.

Everything is rebuilt from what arrived on the wire: the raw path (not the decoded one), the
raw query string, the received header values. Hostile values are bounded before any work."""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from starlette.types import Scope

from swr_official_images import signing
from swr_official_images.store.access_keys import AccessKeyStore, KeyRefusal

# Longer than any honest header: 20 + 64 + 32 names of up to 64 characters stays far below.
MAX_AUTHORIZATION_LENGTH = 2048
MAX_SIGNED_HEADERS = 32
# The SDK's allowed clock difference, as Huawei Cloud's gateways apply it.
MAX_CLOCK_SKEW = timedelta(minutes=15)

# The scheme word in any case (RFC 9110 §11.1: schemes are case-insensitive); the rest as the SDK
# writes it.
_AUTHORIZATION = re.compile(
    r"(?i:SDK-HMAC-SHA256) Access=([A-Za-z0-9]{1,64}), ?SignedHeaders=([a-z0-9;-]{1,2048}), ?"
    r"Signature=([0-9a-f]{64})"
)
_HEADER_NAME = re.compile(r"[a-z0-9-]{1,64}")
_SDK_DATE = re.compile(rb"\d{8}T\d{6}Z")
# Without these in the signature, a signed request could be replayed later or at another host.
_REQUIRED_SIGNED = ("host", signing.DATE_HEADER.lower())


class SignatureRefusal(StrEnum):
    """Why a signature is refused, for the operator's log and metrics: a bounded set, where the
    error body's message may be more precise."""

    MALFORMED = "aksk_malformed"
    CLOCK_SKEW = "aksk_clock_skew"
    UNKNOWN_KEY = "aksk_unknown_key"
    DISABLED = "aksk_disabled"
    UNUSABLE_KEY = "aksk_unusable_key"
    BAD_SIGNATURE = "aksk_bad_signature"


# Every refusal that depends on the key or its secret says this, whatever the reason: telling a
# caller that a key exists, or is disabled, would help whoever guesses or holds a stolen one.
# The log and the metrics keep the reason.
KEY_REFUSED = "the access key is unknown or disabled, or the signature does not match the request"

# The store's refusals of a key, in the same bounded set.
_KEY_REFUSALS = {
    KeyRefusal.UNKNOWN: SignatureRefusal.UNKNOWN_KEY,
    KeyRefusal.DISABLED: SignatureRefusal.DISABLED,
    KeyRefusal.UNUSABLE: SignatureRefusal.UNUSABLE_KEY,
}


class SignatureRefused(Exception):
    """The message a signed request is refused with, for the error body (it never echoes
    input), and its reason."""

    def __init__(self, message: str, reason: SignatureRefusal = SignatureRefusal.MALFORMED) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SignedBy:
    key_name: str
    access_key_id: str


def is_signature(authorization: str) -> bool:
    """Whether an Authorization value claims to be an SDK signature (its scheme word)."""
    # Any case: a lower-case scheme beside a token must be refused as ambiguous, not ignored.
    return authorization.lstrip()[:9].upper() == "SDK-HMAC-"


def _values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key.lower() == name]


def verify(scope: Scope, keys: AccessKeyStore, now: datetime | None = None) -> SignedBy:
    """Who signed this request. Raises SignatureRefused with the reason."""
    headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
    authorizations = _values(headers, b"authorization")
    if len(authorizations) != 1:
        raise SignatureRefused("more than one Authorization header")
    raw = authorizations[0].strip()
    if len(raw) > MAX_AUTHORIZATION_LENGTH:
        raise SignatureRefused("the Authorization header is too long")
    match = _AUTHORIZATION.fullmatch(raw.decode("latin-1"))
    if match is None:
        raise SignatureRefused("the Authorization header is not an SDK-HMAC-SHA256 signature")
    access_key_id, signed_list, presented = match.groups()
    signed = signed_list.split(";")
    if len(signed) > MAX_SIGNED_HEADERS:
        raise SignatureRefused(f"more than {MAX_SIGNED_HEADERS} signed headers")
    if not all(_HEADER_NAME.fullmatch(name) for name in signed) or len(set(signed)) != len(signed):
        raise SignatureRefused("SignedHeaders is not a list of distinct header names")
    if "authorization" in signed:
        raise SignatureRefused("the Authorization header cannot sign itself")

    dates = _values(headers, b"x-sdk-date")
    if not dates:
        raise SignatureRefused("the X-Sdk-Date header is missing")
    if len(dates) > 1 or not _SDK_DATE.fullmatch(dates[0].strip()):
        raise SignatureRefused("X-Sdk-Date is not one date of the form YYYYMMDDTHHMMSSZ")
    sdk_date = dates[0].strip().decode("ascii")
    try:
        signed_at = datetime.strptime(sdk_date, signing.DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureRefused("X-Sdk-Date is not one date of the form YYYYMMDDTHHMMSSZ") from None
    if abs((now or datetime.now(UTC)) - signed_at) > MAX_CLOCK_SKEW:
        raise SignatureRefused(
            "X-Sdk-Date is more than 15 minutes off the server's clock", SignatureRefusal.CLOCK_SKEW
        )
    if not all(name in signed for name in _REQUIRED_SIGNED):
        raise SignatureRefused("SignedHeaders must include host and x-sdk-date")

    canonical_headers = []
    for name in signed:
        values = _values(headers, name.encode("ascii"))
        if not values:
            raise SignatureRefused("a signed header is missing from the request")
        if len(values) > 1:
            raise SignatureRefused("a signed header is sent more than once")
        canonical_headers.append((name, values[0]))

    # A refused key is checked like a usable one and refused only after the comparison: see
    # AccessKeyStore.signing_key.
    key = keys.signing_key(access_key_id)
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
    canonical = signing.canonical_request(
        scope["method"],
        raw_path.partition(b"?")[0],
        scope.get("query_string", b""),
        canonical_headers,
        # No operation takes a body (the transport refuses one): the payload is always empty.
        signing.EMPTY_BODY_SHA256,
    )
    expected = signing.signature(key.secret, signing.string_to_sign(canonical, sdk_date))
    matches = hmac.compare_digest(expected, presented)
    if key.refusal is not None:
        raise SignatureRefused(KEY_REFUSED, _KEY_REFUSALS[key.refusal])
    if not matches:
        raise SignatureRefused(KEY_REFUSED, SignatureRefusal.BAD_SIGNATURE)
    return SignedBy(key_name=key.name, access_key_id=access_key_id)
