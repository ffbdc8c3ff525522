"""Conditional requests over a real socket: validators on an image's 200, 304 through the
generated client (for an image and for a page of the list), and validators that follow the
store's changes."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from swr_official_images_client.api.official_images import (
    check_official_image,
    check_official_images,
    list_official_images,
    show_official_image,
)
from swr_official_images_client.models import OfficialImage, OfficialImagePage
from swr_official_images_client.types import Response

from swr_official_images.store.db import images
from tests.api.test_round_trip import client_for, shown
from tests.conftest import NESTED_IMAGE, run_cli, start_loaded_server
from tests.support.contract import (
    LIST_PATH,
    OPERATION_PATH,
    assert_request_id,
    expected_cache_control,
    list_path_for,
    path_for,
    resolve,
)

NGINX = path_for("official", "nginx")


def etag_pattern(spec: dict) -> re.Pattern[str]:
    return re.compile(resolve(spec, spec["components"]["headers"]["ETag"])["schema"]["pattern"])


def get(server, path: str = NGINX, method: str = "GET", **headers: str) -> httpx.Response:
    return httpx.request(
        method,
        server.base_url + path,
        headers={"X-Auth-Token": server.tokens.valid, **headers},
    )


@dataclass(frozen=True)
class ConditionalOperation:
    """A generated client operation that answers 304: its GET and HEAD functions, the
    arguments of one call, the model a GET parses, and its path in the spec."""

    get: Any
    head: Any
    arguments: tuple[object, ...]
    options: dict[str, object]
    model: type
    path: str

    def call(self, server, mode: str, method: str, **conditions: str) -> Response:
        operation = self.get if method == "get" else self.head
        client = client_for(server.base_url, server.tokens.valid)
        kwargs = {"client": client, **self.options, **conditions}
        if mode == "sync":
            with client:
                return operation.sync_detailed(*self.arguments, **kwargs)

        async def run() -> Response:
            async with client:
                return await operation.asyncio_detailed(*self.arguments, **kwargs)

        return asyncio.run(run())


CONDITIONAL_OPERATIONS = {
    "image": ConditionalOperation(
        show_official_image,
        check_official_image,
        ("official", "nginx"),
        {},
        OfficialImage,
        OPERATION_PATH,
    ),
    "page": ConditionalOperation(
        list_official_images,
        check_official_images,
        ("official",),
        {"limit": 2},
        OfficialImagePage,
        LIST_PATH,
    ),
}


def test_a_200_carries_strong_validators(spec, live_server):
    response = get(live_server)

    assert response.status_code == 200, response.text
    etag = response.headers["ETag"]
    assert etag_pattern(spec).match(etag) and not etag.startswith("W/"), etag
    last_modified = parsedate_to_datetime(response.headers["Last-Modified"])
    # Never later than the response's own date (RFC 9110 §8.8.2.1).
    assert last_modified <= parsedate_to_datetime(response.headers["Date"])
    assert (
        response.headers["Cache-Control"]
        == expected_cache_control(spec, 200)
        == ("private, no-cache")
    )
    # HEAD carries GET's validators.
    head = get(live_server, method="HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == etag
    assert head.headers["Last-Modified"] == response.headers["Last-Modified"]
    # Another representation, another tag.
    assert get(live_server, path_for("official", "redis")).headers["ETag"] != etag


@pytest.mark.parametrize("operation", sorted(CONDITIONAL_OPERATIONS))
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("method", ["get", "head"])
def test_304_round_trip_through_the_generated_client(spec, live_server, operation, mode, method):
    conditional = CONDITIONAL_OPERATIONS[operation]
    first = conditional.call(live_server, mode, method)
    assert first.status_code == 200, shown(first)
    if method == "get":
        assert isinstance(first.parsed, conditional.model), shown(first)
    etag = first.headers["ETag"]

    again = conditional.call(live_server, mode, method, if_none_match=etag)

    assert again.status_code == 304, shown(again)
    assert again.parsed is None
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == expected_cache_control(
        spec, 304, method, conditional.path
    )
    assert "Content-Type" not in again.headers
    assert_request_id(spec, again.headers)

    by_date = conditional.call(
        live_server, mode, method, if_modified_since=first.headers["Last-Modified"]
    )
    assert by_date.status_code == 304, shown(by_date)
    assert by_date.headers["ETag"] == etag
    stale = conditional.call(live_server, mode, method, if_none_match='"not-it"')
    assert stale.status_code == 200, shown(stale)


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ("{etag}", 304),
        ("*", 304),
        ('"not-it", {etag}', 304),
        ('"not-it",{etag} , "nor-this"', 304),
        ("W/{etag}", 304),  # weak comparison
        ('"not-it"', 200),
        ('W/"not-it", "nor-this"', 200),
        ("{bare}", 200),  # an unquoted tag is not the quoted one
        ("", 200),
    ],
)
def test_if_none_match(live_server, if_none_match, status):
    etag = get(live_server).headers["ETag"]
    condition = if_none_match.format(etag=etag, bare=etag.strip('"'))

    response = get(live_server, **{"If-None-Match": condition})

    assert response.status_code == status, response.text
    assert response.headers["ETag"] == etag
    if status == 304:
        assert response.content == b""
    else:
        assert response.json()["name"] == "nginx"


def test_if_none_match_reads_a_bounded_number_of_members(live_server):
    from swr_official_images.http.conditional import MAX_IF_NONE_MATCH_MEMBERS as bound

    etag = get(live_server).headers["ETag"]

    def status_at(position: int, filler: str = '"not-it"') -> int:
        members = [filler] * (position - 1) + [etag]
        return get(live_server, **{"If-None-Match": ",".join(members)}).status_code

    assert status_at(1) == 304
    assert status_at(bound) == 304
    # A tag past the bound is not read: a 200, which is always a correct answer to a GET.
    assert status_at(bound + 1) == 200
    # Empty members count: 31,000 commas cost no more than the bound.
    assert status_at(31_000, filler="") == 200
    assert get(live_server, **{"If-None-Match": etag + "," * 31_000}).status_code == 304


def test_if_modified_since(live_server):
    first = get(live_server)
    last_modified = parsedate_to_datetime(first.headers["Last-Modified"])
    etag = first.headers["ETag"]

    def status_with(**headers: str) -> int:
        return get(live_server, **headers).status_code

    assert status_with(**{"If-Modified-Since": first.headers["Last-Modified"]}) == 304
    later = format_datetime(last_modified + timedelta(days=1), usegmt=True)
    assert status_with(**{"If-Modified-Since": later}) == 304
    earlier = format_datetime(last_modified - timedelta(seconds=1), usegmt=True)
    assert status_with(**{"If-Modified-Since": earlier}) == 200
    # The obsolete formats RFC 9110 requires recipients to accept.
    rfc850 = (last_modified + timedelta(days=1)).strftime("%A, %d-%b-%y %H:%M:%S GMT")
    asctime = (last_modified + timedelta(days=1)).strftime("%a %b %d %H:%M:%S %Y")
    assert status_with(**{"If-Modified-Since": rfc850}) == 304
    assert status_with(**{"If-Modified-Since": asctime}) == 304
    # Not a date: ignored.
    for invalid in ("yesterday", "", "Mon, 99 Foo 2026 25:61:61 GMT", "0"):
        assert status_with(**{"If-Modified-Since": invalid}) == 200, invalid
    # If-None-Match decides when present, whatever the date says.
    assert status_with(**{"If-None-Match": '"not-it"', "If-Modified-Since": later}) == 200
    assert status_with(**{"If-None-Match": etag, "If-Modified-Since": earlier}) == 304


# Dates that look like HTTP-dates but overflow or leave the calendar: each is not a valid
# HTTP-date, so it is ignored like any other (RFC 9110 §13.1.3).
ABSURD_DATES = [
    "Fri, 31 Dec 9999999999 23:59:59 GMT",
    "Fri, 99999999999 Dec 2020 23:59:59 GMT",
    "Fri, 31 Dec 2020 99999999999:59:59 GMT",
    "Fri, 31 Dec 2020 23:59:99999999999999 GMT",
    "Fri, 31 Dec 2020 23:59:59 +99999999999999999999",
    "Fri, 31 Dec 2020 23:59:59 +9999",
]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("path", [NGINX, list_path_for("official")], ids=["image", "page"])
def test_an_absurd_if_modified_since_is_ignored(live_server, path, method):
    for since in ABSURD_DATES:
        response = get(live_server, path, method, **{"If-Modified-Since": since})

        assert response.status_code == 200, (since, response.text)
        assert "Last-Modified" in response.headers, since


def test_errors_stay_no_store_and_are_never_304(spec, live_server):
    missing = get(live_server, path_for("official", "no-such-image"), **{"If-None-Match": "*"})
    unauthorised = httpx.get(live_server.base_url + NGINX, headers={"If-None-Match": "*"})

    assert missing.status_code == 404
    assert unauthorised.status_code == 401
    for response in (missing, unauthorised):
        assert response.headers["Cache-Control"] == "no-store"
        assert "ETag" not in response.headers and "Last-Modified" not in response.headers
        assert_request_id(spec, response.headers, response.json())


@pytest.fixture
def uncached_server(empty_database_url, catalog_file):
    # The store's changes, not the cache's lifetime, are what this is about.
    with start_loaded_server(empty_database_url, catalog_file, cache_ttl=0) as server:
        yield server


def test_validators_follow_the_stores_changes(uncached_server, tmp_path):
    private_server = uncached_server
    # The record last changed long ago, so that a change now is a later second for sure.
    with private_server.engine.begin() as conn:
        conn.execute(update(images).values(changed_at=datetime(2026, 1, 1)))
    nested = path_for("official", "library$nginx")
    before = get(private_server, nested)
    catalog = tmp_path / "catalog.json"

    def import_nested(**changes: object) -> None:
        catalog.write_text(json.dumps([{**NESTED_IMAGE, **changes}]), encoding="utf-8")
        result = run_cli(private_server.settings.database_url, "import", str(catalog))
        assert result.code == 0, result.err

    # Re-importing the same record changes nothing, validators included.
    import_nested()
    unchanged = get(private_server, nested, **{"If-None-Match": before.headers["ETag"]})
    assert unchanged.status_code == 304
    assert get(private_server, nested).headers["Last-Modified"] == before.headers["Last-Modified"]

    # Only pull_count changes: last_updated (Docker Hub's date) stays, the validators do not.
    import_nested(pull_count=NESTED_IMAGE["pull_count"] + 1)
    after = get(private_server, nested)
    assert after.json()["last_updated"] == before.json()["last_updated"]
    assert after.json()["pull_count"] == NESTED_IMAGE["pull_count"] + 1
    assert after.headers["ETag"] != before.headers["ETag"]
    assert parsedate_to_datetime(after.headers["Last-Modified"]) > parsedate_to_datetime(
        before.headers["Last-Modified"]
    )
    for stale in (
        {"If-None-Match": before.headers["ETag"]},
        {"If-Modified-Since": before.headers["Last-Modified"]},
    ):
        assert get(private_server, nested, **stale).status_code == 200, stale

    # A second change within the same second still fails a revalidation by date.
    import_nested(pull_count=NESTED_IMAGE["pull_count"] + 2)
    assert (
        get(private_server, nested, **{"If-Modified-Since": after.headers["Last-Modified"]})
    ).status_code == 200
    # Other images were not touched.
    assert get(private_server).headers["Last-Modified"] == before.headers["Last-Modified"]
