"""render_error: the bytes `json.dumps` writes for SWR's error document, whatever the code,
message and request id."""

from __future__ import annotations

import json

import pytest

from swr_official_images.http.error_codes import INTERNAL_ERROR_MESSAGE, ErrorCode, render_error

MESSAGES = [
    INTERNAL_ERROR_MESSAGE,
    "Invalid path parameter 'repository': does not match the naming rules.",
    'a "quoted" word, a back\\slash and a line\nbreak',
    "caf\u00e9 \u2014 \U0001f433",
    "",
]
REQUEST_IDS = ["same", "0b6f2e0c-3c1e-4a4b-9f7e-1d2c3b4a5968", "a.b:c-d_e", "", '\u00e9"\\\n']


@pytest.mark.parametrize("code", list(ErrorCode))
@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("request_id", REQUEST_IDS)
def test_an_error_body_is_json_dumps_of_the_document(code, message, request_id):
    document = {"error_code": code.value, "error_msg": message, "request_id": request_id}
    assert render_error(code, message, request_id) == json.dumps(document).encode()


def test_the_same_code_and_message_with_another_request_id_names_that_id():
    first = render_error(ErrorCode.IMAGE_NOT_FOUND, "Image does not exist.", "first")
    second = render_error(ErrorCode.IMAGE_NOT_FOUND, "Image does not exist.", "second")
    assert json.loads(first)["request_id"] == "first"
    assert json.loads(second)["request_id"] == "second"
