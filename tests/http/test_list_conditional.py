"""Conditional requests on the list, as on the details: a page's validators over a real socket,
and validators that follow the store's changes. A page's 304 through the generated client is
tested with the image's, in test_conditional."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx
from sqlalchemy import update

from swr_official_images.store.db import images
from tests.conftest import run_cli
from tests.http.test_conditional import etag_pattern
from tests.support.contract import (
    LIST_PATH,
    assert_request_id,
    expected_cache_control,
    list_path_for,
)

OFFICIAL = list_path_for("official")


def get_page(server, method: str = "GET", headers: dict | None = None, **query) -> httpx.Response:
    return httpx.request(
        method,
        server.base_url + OFFICIAL,
        params=query,
        headers={"X-Auth-Token": server.tokens.valid, **(headers or {})},
    )


def test_a_page_carries_strong_validators(spec, live_server):
    response = get_page(live_server, limit=2)

    assert response.status_code == 200, response.text
    etag = response.headers["ETag"]
    assert etag_pattern(spec).match(etag) and not etag.startswith("W/"), etag
    # The tag is the exact bytes served.
    assert etag == '"' + hashlib.sha256(response.content).hexdigest()[:32] + '"'
    last_modified = parsedate_to_datetime(response.headers["Last-Modified"])
    assert last_modified <= parsedate_to_datetime(response.headers["Date"])
    assert (
        response.headers["Cache-Control"]
        == expected_cache_control(spec, 200, path=LIST_PATH)
        == "private, no-cache"
    )
    head = get_page(live_server, "HEAD", limit=2)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == etag
    assert head.headers["Last-Modified"] == response.headers["Last-Modified"]
    # Another page, another tag; the same images with another nextMarker, another tag too.
    marker = response.json()["nextMarker"]
    assert get_page(live_server, limit=2, marker=marker).headers["ETag"] != etag
    assert get_page(live_server, limit=1).headers["ETag"] != etag


def test_an_empty_page_has_an_etag_but_no_last_modified(live_server):
    empty = get_page(live_server, name="no-image-starts-like-this")

    assert empty.status_code == 200 and empty.json() == {"repos": []}
    assert "Last-Modified" not in empty.headers
    etag = empty.headers["ETag"]
    # No date to compare with: If-Modified-Since is ignored; If-None-Match still applies.
    since = {"If-Modified-Since": "Mon, 30 Nov 2099 12:00:00 GMT"}
    assert get_page(live_server, headers=since, name="no-image-").status_code == 200
    match = {"If-None-Match": etag}
    assert get_page(live_server, headers=match, name="no-image-").status_code == 304


def test_errors_on_the_list_stay_no_store_and_are_never_304(spec, live_server):
    unauthorised = httpx.get(live_server.base_url + OFFICIAL, headers={"If-None-Match": "*"})
    invalid = get_page(live_server, headers={"If-None-Match": "*"}, limit=0)

    assert (unauthorised.status_code, invalid.status_code) == (401, 400)
    for response in (unauthorised, invalid):
        assert response.headers["Cache-Control"] == "no-store"
        assert "ETag" not in response.headers and "Last-Modified" not in response.headers
        assert_request_id(spec, response.headers, response.json())


def test_a_pages_validators_follow_the_stores_changes(private_server, tmp_path):
    # Every record last changed long ago, so that a change now is a later second for sure.
    with private_server.engine.begin() as conn:
        conn.execute(update(images).values(changed_at=datetime(2026, 1, 1)))
    before = get_page(private_server, limit=3)
    repos = before.json()["repos"]
    catalog = tmp_path / "catalog.json"

    def import_records(*records: dict) -> None:
        catalog.write_text(json.dumps(list(records)), encoding="utf-8")
        result = run_cli(private_server.settings.database_url, "import", str(catalog))
        assert result.code == 0, result.err

    def record(body: dict, **changes: object) -> dict:
        return {**{k: v for k, v in body.items() if k != "id"}, **changes}

    def status_with(headers: dict) -> int:
        return get_page(private_server, headers=headers, limit=3).status_code

    # Re-importing the page's images unchanged changes neither validator.
    import_records(*(record(image) for image in repos))
    assert status_with({"If-None-Match": before.headers["ETag"]}) == 304
    assert status_with({"If-Modified-Since": before.headers["Last-Modified"]}) == 304

    # One image on the page changes: the page's ETag and Last-Modified change.
    import_records(record(repos[1], pull_count=repos[1]["pull_count"] + 1))
    after = get_page(private_server, limit=3)
    assert after.json()["repos"][1]["pull_count"] == repos[1]["pull_count"] + 1
    assert after.headers["ETag"] != before.headers["ETag"]
    assert parsedate_to_datetime(after.headers["Last-Modified"]) > parsedate_to_datetime(
        before.headers["Last-Modified"]
    )
    for stale in (
        {"If-None-Match": before.headers["ETag"]},
        {"If-Modified-Since": before.headers["Last-Modified"]},
    ):
        assert status_with(stale) == 200, stale

    # A new image that sorts into the page changes its membership and its nextMarker.
    newcomer = record(repos[0], name=repos[0]["name"] + "-a", pull_count=1)
    import_records(newcomer)
    joined = get_page(private_server, limit=3)
    assert [image["name"] for image in joined.json()["repos"]][:2] == [
        repos[0]["name"],
        newcomer["name"],
    ]
    assert joined.json()["nextMarker"] != after.json()["nextMarker"]
    assert joined.headers["ETag"] != after.headers["ETag"]
    assert status_with({"If-Modified-Since": after.headers["Last-Modified"]}) == 200
