"""Image.to_api: the API's body of an image, its fields written out in the spec's order."""

from __future__ import annotations

from datetime import datetime

from swr_official_images.domain import API_FIELDS, ROW_FIELDS, Image
from swr_official_images.spec import load_spec

ROW = (
    7,
    "official",
    "library/nginx",
    "library",
    "A web server.",
    "# nginx\n\nThe long description.",
    123,
    4567,
    0,
    datetime(999, 1, 2, 3, 4, 5),
    datetime(2026, 12, 6, 1, 2, 3),
)


def test_the_body_has_the_image_fields_in_the_specs_order():
    schema = load_spec()["components"]["schemas"]["OfficialImage"]
    assert tuple(schema["properties"]) == API_FIELDS
    assert tuple(Image.from_row(ROW).to_api()) == API_FIELDS


def test_the_body_holds_each_fields_value_and_the_time_as_the_api_writes_it():
    image = Image.from_row(ROW)
    body = image.to_api()
    stored = dict(zip(ROW_FIELDS, ROW, strict=True))
    assert {name: body[name] for name in API_FIELDS if name != "last_updated"} == {
        name: stored[name] for name in API_FIELDS if name != "last_updated"
    }
    # Four digits of year whatever the year: the spec's pattern asks for them.
    assert body["last_updated"] == "0999-01-02 03:04:05"
