"""Conditional GET and HEAD (RFC 9110 §8.8, §13): validators on an image's or a page's 200, and
304 when the caller's copy is current.

The ETag is a hash of the exact bytes served, so it is strong and changes exactly when they do.
Last-Modified is when the store last changed the record (`changed_at`), not Docker Hub's
`last_updated`.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import orjson
from starlette.responses import Response
from starlette.types import Scope

# The client may keep an image and must revalidate it before each use; no shared cache may
# store it, since it was fetched with a token.
REVALIDATE = "private, no-cache"


def json_body(body: Mapping[str, object]) -> bytes:
    """The bytes of a JSON response: compact UTF-8, ending with a newline.

    orjson rather than the standard library's encoder: a page of 100 images spent a fifth of
    its CPU time in `json.dumps`, and orjson writes the same document about ten times faster
    (values are already JSON types: the store bounds integers to int64)."""
    return orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE)


def entity_tag(content: bytes) -> str:
    # 128 bits of SHA-256: collisions are not a practical concern, and the header stays short.
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(moment: datetime) -> str:
    """A naive UTC datetime as an HTTP-date (IMF-fixdate, RFC 9110 §5.6.7), as
    `email.utils.format_datetime(..., usegmt=True)` writes it, with the English names the
    format fixes whatever the locale, without the time tuple and zone check that function
    goes through on every image's 200."""
    return (
        f"{_DAY_NAMES[moment.weekday()]}, {moment.day:02d} {_MONTH_NAMES[moment.month - 1]} "
        f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )


# Every record an import changes shares that import's change stamp (store.image_import), so a
# catalog's images carry a few stamps between them: their Last-Modified is written once each.
# Bounded, so a catalog of many small imports costs no more than this many.
_last_modified = functools.lru_cache(maxsize=1024)(http_date)


# The members of an If-None-Match list read at most, empty ones included. A client sends the one
# tag it holds, a proxy may combine a few; past the bound the server reads no further and answers
# 200, which is always a correct answer to a conditional GET, so a hostile list of thousands of
# members costs no more than this many.
MAX_IF_NONE_MATCH_MEMBERS = 32


def none_match(field: str, etag: str) -> bool:
    """Whether If-None-Match is false for `etag`, i.e. the caller already has it: `*`, or a
    listed tag equal to it under weak comparison (RFC 9110 §13.1.2), among the first
    MAX_IF_NONE_MATCH_MEMBERS members; it stops at the first that matches."""
    # maxsplit bounds the splitting too: the unread rest stays one string, never examined.
    members = field.split(",", MAX_IF_NONE_MATCH_MEMBERS)
    for member in members[:MAX_IF_NONE_MATCH_MEMBERS]:
        member = member.strip()
        if member.startswith("W/"):
            member = member[2:]
        if member == etag or member == "*":
            return True
    return False


def _parse_http_date(field: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(field.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        # OverflowError: a year, day or zone offset too large for a C int or a datetime
        # (`9999999999`) is as much "not an HTTP-date" as a word is, and is ignored the same way.
        return None
    if moment.tzinfo is None:
        # RFC 5322 "-0000": no zone information; HTTP dates are always GMT.
        moment = moment.replace(tzinfo=UTC)
    return moment


def request_conditions(scope: Scope) -> tuple[str | None, str | None]:
    """The request's If-None-Match and If-Modified-Since, in one pass over its headers: the
    first field line of each, as Starlette's `Headers.get` reads them."""
    if_none_match = if_modified_since = None
    for name, value in scope["headers"]:
        # ASGI's header names are lower case.
        if name == b"if-none-match":
            if if_none_match is None:
                if_none_match = value.decode("latin-1")
        elif name == b"if-modified-since" and if_modified_since is None:
            if_modified_since = value.decode("latin-1")
    return if_none_match, if_modified_since


def not_modified(
    if_none_match: str | None,
    if_modified_since: str | None,
    etag: str,
    changed_at: datetime | None,
) -> bool:
    """Whether a GET or HEAD with these request headers answers 304 (RFC 9110 §13.2.2):
    If-None-Match decides when present; otherwise If-Modified-Since, ignored when it is not a
    valid HTTP-date or the representation has no modification date (RFC 9110 §13.1.3)."""
    if if_none_match is not None:
        return none_match(if_none_match, etag)
    if if_modified_since is None or changed_at is None:
        return False
    since = _parse_http_date(if_modified_since)
    if since is None:
        return False
    return changed_at.replace(tzinfo=UTC) <= since


class _ServerClock:
    """The server's time to the second, as a naive UTC datetime: all an HTTP-date shows. Made
    again when the second changes, not on every 200."""

    def __init__(self) -> None:
        self._second = -1
        self._now = datetime.min

    def now(self) -> datetime:
        second = int(time.time())
        if second != self._second:
            self._now = datetime.fromtimestamp(second, UTC).replace(tzinfo=None)
            self._second = second
        return self._now


_clock = _ServerClock()


class _ValidatedResponse(Response):
    """Starlette's Response of a JSON body (or none, for a 304) and its validators, its header
    list written as bytes once rather than lower-cased and encoded from a dict, in the order
    Starlette's would have: the headers given, then the length and type of a body."""

    def __init__(self, status_code: int, headers: list[tuple[bytes, bytes]], body: bytes = b""):
        self.status_code = status_code
        self.background = None
        self.body = body
        if status_code != 304:
            self.media_type = "application/json"
            headers.append((b"content-length", str(len(body)).encode("latin-1")))
            headers.append((b"content-type", b"application/json"))
        self.raw_headers = headers


_REVALIDATE = (b"cache-control", REVALIDATE.encode("latin-1"))


def conditional_json_response(
    scope: Scope, body: Mapping[str, object], changed_at: datetime | None
) -> Response:
    """A 200 with the body and its validators, or a 304 when the caller's copy (the request of
    `scope` says which it holds) is current. Without `changed_at` (an empty page) the 200 has no
    Last-Modified."""
    content = json_body(body)
    etag = entity_tag(content)
    headers = [(b"etag", etag.encode("latin-1")), _REVALIDATE]
    if not_modified(*request_conditions(scope), etag, changed_at):
        # A 304 repeats the validator and the caching policy of the 200 it stands for.
        return _ValidatedResponse(304, headers)
    if changed_at is not None:
        # Never later than the server's clock (RFC 9110 §8.8.2.1): a change stamp may run ahead
        # of it by a second when a record changed twice within one.
        last_modified = _last_modified(min(changed_at, _clock.now()))
        headers.append((b"last-modified", last_modified.encode("latin-1")))
    return _ValidatedResponse(200, headers, content)
