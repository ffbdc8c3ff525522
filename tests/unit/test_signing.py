"""Both ends of AK/SK signing against Huawei Cloud's SDK signer: the client package's
`SdkHmacSha256Auth` writes the `Authorization` the SDK writes, and the server's verifier accepts
what the SDK signed. The two hold their own copy of the canonical request (the client does not
depend on the server), so each is held to the SDK, request by request."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from swr_official_images_client import SdkHmacSha256Auth

from swr_official_images.http.aksk import SignatureRefused, verify
from swr_official_images.store.access_keys import SigningKey

AK, SK = "HPUAEXAMPLEKEY123456", "s3cr3t" * 7
SIGNED_AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
BASE = "http://swr.example.com:8080"
IMAGE = "/v2/manage/dockerhub/namespaces/official/repos/"
LIST = "/v2/manage/dockerhub/namespaces/official/repos"
JSON = {"Content-Type": "application/json"}


# (method, path as sent, query pairs, headers beyond httpx's own)
REQUESTS = {
    "an image": ("GET", IMAGE + "nginx", [], {}),
    "HEAD": ("HEAD", IMAGE + "nginx", [], {}),
    "a nested name with $": ("GET", IMAGE + "library$nginx", [], {}),
    "a nested name with %24": ("GET", IMAGE + "library%24nginx", [], {}),
    "a name beyond ASCII": ("GET", IMAGE + "ngin%C3%A9", [], {}),
    "the SDK's own headers": (
        "GET",
        IMAGE + "nginx",
        [],
        {**JSON, "X-Project-Id": "0f1e2d3c", "X-Request-Id": "req-1"},
    ),
    "a header with _ is not signed": ("GET", IMAGE + "nginx", [], {"X_Trace": "abc"}),
    "a list": ("GET", LIST, [("limit", "5"), ("name", "ngin")], {}),
    "query pairs out of order": (
        "GET",
        LIST,
        [("name", "ngin"), ("limit", "5"), ("marker", "")],
        {},
    ),
    "a repeated parameter": ("GET", LIST, [("name", "b"), ("name", "a")], {}),
    "a + in a value": ("GET", LIST, [("name", "ngin+x")], {}),
    "a space in a value": ("GET", LIST, [("name", "ngin x")], {}),
    "reserved and unreserved characters": ("GET", LIST, [("name", "a~b-c_d.e/f$g&h=i")], {}),
    "a value beyond ASCII": ("GET", LIST, [("name", "nginé")], JSON),
    "OPTIONS": ("OPTIONS", LIST, [], {}),
}


def sdk_sign(request: httpx.Request, query: list[tuple[str, str]]) -> dict[str, str]:
    """The headers Huawei's SDK signer sends for this request: the same headers, path and query
    pairs, and the same X-Sdk-Date."""
    headers = {name: value for name, value in request.headers.items() if name != "authorization"}
    signed = Signer(SimpleNamespace(ak=AK, sk=SK)).sign(
        SdkRequest(
            method=request.method,
            schema="http",
            host=request.url.netloc.decode("ascii"),
            resource_path=request.url.raw_path.partition(b"?")[0].decode("ascii"),
            query_params=list(query),
            header_params=headers,
            body=None,
        )
    )
    return {name.lower(): value for name, value in signed.header_params.items()}


class OneKey:
    """The access key store as the verifier asks it: one key, usable."""

    def signing_key(self, access_key_id: str) -> SigningKey:
        assert access_key_id == AK
        return SigningKey(name="client", secret=SK)


def scope_of(request: httpx.Request, headers: dict[str, str]) -> dict[str, object]:
    """The ASGI scope the server would build for this request, sent with these headers."""
    return {
        "type": "http",
        "method": request.method,
        "path": request.url.path,
        "raw_path": request.url.raw_path.partition(b"?")[0],
        "query_string": request.url.query,
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
    }


@pytest.mark.parametrize(("method", "path", "query", "headers"), REQUESTS.values(), ids=REQUESTS)
def test_the_client_signs_and_the_server_verifies_as_the_sdk_signer(method, path, query, headers):
    with httpx.Client() as client:  # its default headers (Accept, User-Agent…) are signed too
        request = client.build_request(method, BASE + path, params=query, headers=headers)
    auth = SdkHmacSha256Auth(AK, SK, clock=lambda: SIGNED_AT)
    next(auth.sync_auth_flow(request))
    sdk = sdk_sign(request, query)
    assert sdk["x-sdk-date"] == request.headers["X-Sdk-Date"] == "20260304T050607Z"

    # The client: the SDK's Authorization, to the byte.
    assert request.headers["Authorization"] == sdk["authorization"]

    # The server: the SDK's signature verifies on the request as it arrives.
    assert verify(scope_of(request, sdk), OneKey(), now=SIGNED_AT).key_name == "client"
    # …and only on that request: another query fails the comparison.
    changed = request.url.copy_with(query=request.url.query + b"&extra=1")
    with pytest.raises(SignatureRefused):
        verify(scope_of(httpx.Request(method, changed), sdk), OneKey(), now=SIGNED_AT)
