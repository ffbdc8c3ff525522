"""conditional_json_response: the answer Starlette's Response would give, its headers written
directly; the request's conditions read as Starlette's Headers reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.datastructures import Headers
from starlette.responses import Response

from swr_official_images.http.conditional import (
    REVALIDATE,
    conditional_json_response,
    entity_tag,
    http_date,
    json_body,
    request_conditions,
)

BODY = {"name": "nginx", "star_count": 7, "description": "caf\u00e9"}
CHANGED = datetime(2025, 3, 4, 5, 6, 7, 890_000)


def _scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"type": "http", "headers": list(headers)}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_a_200_is_starlettes_response_of_the_body_and_its_validators():
    answer = conditional_json_response(_scope(), BODY, CHANGED)
    content = json_body(BODY)
    expected = Response(
        content,
        200,
        headers={
            "ETag": entity_tag(content),
            "Cache-Control": REVALIDATE,
            "Last-Modified": http_date(CHANGED),
        },
        media_type="application/json",
    )
    assert (answer.status_code, answer.body, answer.media_type) == (
        200,
        content,
        "application/json",
    )
    assert answer.raw_headers == expected.raw_headers


def test_a_200_without_a_change_date_has_no_last_modified():
    answer = conditional_json_response(_scope(), BODY, None)
    assert b"last-modified" not in dict(answer.raw_headers)
    assert dict(answer.raw_headers)[b"content-length"] == str(len(json_body(BODY))).encode()


@pytest.mark.parametrize(
    "condition",
    [
        (b"if-none-match", entity_tag(json_body(BODY)).encode()),
        (b"if-modified-since", http_date(CHANGED + timedelta(seconds=1)).encode()),
    ],
)
def test_a_304_is_starlettes_response_of_the_validators_alone(condition):
    answer = conditional_json_response(_scope(condition), BODY, CHANGED)
    etag = entity_tag(json_body(BODY))
    expected = Response(status_code=304, headers={"ETag": etag, "Cache-Control": REVALIDATE})
    assert (answer.status_code, answer.body) == (304, b"")
    assert answer.raw_headers == expected.raw_headers


def test_a_change_stamped_ahead_of_the_clock_is_dated_now():
    before = _now().replace(microsecond=0)
    answer = conditional_json_response(_scope(), BODY, _now() + timedelta(days=1))
    after = _now()
    stated = dict(answer.raw_headers)[b"last-modified"].decode()
    assert stated in {http_date(before), http_date(after)}
    # A stamp from the past is its own date, to the second.
    past = conditional_json_response(_scope(), BODY, before - timedelta(seconds=90))
    assert dict(past.raw_headers)[b"last-modified"].decode() == http_date(
        before - timedelta(seconds=90)
    )


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"if-none-match", b'"a"')],
        [(b"if-none-match", b'"a"'), (b"if-none-match", b'"b"')],
        [(b"if-modified-since", b"x"), (b"if-none-match", b"*"), (b"if-modified-since", b"y")],
        [(b"x-auth-token", b"t"), (b"if-modified-since", b"caf\xe9")],
    ],
)
def test_the_conditions_are_the_first_field_lines_as_starlette_reads_them(headers):
    read = Headers(scope=_scope(*headers))
    assert request_conditions(_scope(*headers)) == (
        read.get("if-none-match"),
        read.get("if-modified-since"),
    )
