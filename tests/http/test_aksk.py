"""AK/SK request signing: Huawei Cloud's own SDK against a live server, every refusal over a
real socket, the `key` commands, keys across restarts and processes."""

from __future__ import annotations

import logging
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.sdk_response import SdkResponse
from huaweicloudsdkcore.signer.signer import Signer
from huaweicloudsdkswr.v2 import SwrClient

from swr_official_images.settings import Settings
from swr_official_images.store.master_key import key_file_path
from tests.conftest import (
    LiveServer,
    fresh_database,
    migrate,
    run_cli,
    serve,
    serve_process,
    start_loaded_server,
)
from tests.http.test_hostile_input import send_raw
from tests.support.contract import assert_request_id, expected_error_code, path_for

SECRET = "dGhlIHRlc3RzIG1hc3RlciBrZXksIG5vdCByZWFsISE="  # 32 bytes in base64, a real key
# One message for every refusal that depends on the key or the secret: a caller must not learn
# whether an access key exists or its state (the log and the metrics keep the reason).
KEY_REFUSED = "the access key is unknown or disabled, or the signature does not match the request"
PROJECT_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def master_key(database_url: str) -> dict[str, str]:
    """PostgreSQL needs SWR_SECRET_KEY; SQLite uses the key file beside its database."""
    return {} if database_url.startswith("sqlite") else {"secret_key": SECRET}


def key_cli(database_url: str, *argv: str):
    """The `key` command, with the master key the store needs."""
    env = {"SWR_SECRET_KEY": SECRET} if master_key(database_url) else {}
    with mock.patch.dict(os.environ, env):
        return run_cli(database_url, "key", *argv)


def create_key(database_url: str, name: str) -> tuple[str, str]:
    result = key_cli(database_url, "create", name)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) == 2, result.out
    return lines[0], lines[1]


@dataclass
class SigningServer:
    live: LiveServer
    keys: dict[str, tuple[str, str]]

    @property
    def base_url(self) -> str:
        return self.live.base_url

    @property
    def database_url(self) -> str:
        return self.live.settings.database_url


@pytest.fixture(scope="module")
def signing_server(store, tmp_path_factory, catalog_file) -> Iterator[SigningServer]:
    directory = tmp_path_factory.mktemp("aksk")
    with (
        fresh_database(store, directory) as url,
        start_loaded_server(url, catalog_file, **master_key(url)) as live,
    ):
        keys = {name: create_key(url, name) for name in ("sdk", "disabled", "deleted")}
        assert key_cli(url, "disable", "disabled").code == 0
        assert key_cli(url, "delete", "deleted").code == 0
        yield SigningServer(live, keys)


# --- Huawei Cloud's SDK, unmodified ---------------------------------------------------------


class ShowOfficialImageResponse(SdkResponse):
    """The response model a generated SDK would have for this operation."""

    sensitive_list: list[str] = []  # noqa: RUF012 - the SDK's own model layout
    openapi_types = {  # noqa: RUF012
        "id": "int",
        "user": "str",
        "name": "str",
        "namespace": "str",
        "description": "str",
        "full_description": "str",
        "star_count": "int",
        "pull_count": "int",
        "collection_id": "int",
        "last_updated": "str",
    }
    attribute_map = {name: name for name in openapi_types}  # noqa: RUF012

    def __init__(self, **fields: object) -> None:
        super().__init__()
        for name in self.openapi_types:
            setattr(self, name, fields.get(name))


def sdk_client(base_url: str, ak: str, sk: str) -> SwrClient:
    client = (
        SwrClient.new_builder()
        .with_credentials(BasicCredentials(ak, sk, PROJECT_ID))
        .with_endpoints([base_url])
        .build()
    )
    # The SDK finds response models by name in its model package; ours is defined here.
    client.model_package = SimpleNamespace(ShowOfficialImageResponse=ShowOfficialImageResponse)
    return client


def show_official_image(
    client: SwrClient, namespace: str, repository: str, request_id: str | None = None
) -> ShowOfficialImageResponse:
    """As SwrClient.show_repository builds its request (`_show_repository_http_info`)."""
    header_params = {"Content-Type": "application/json"}
    if request_id:
        header_params["X-Request-Id"] = request_id
    http_info = {
        "method": "GET",
        "resource_path": "/v2/manage/dockerhub/namespaces/{namespace}/repos/{repository}",
        "request_type": "ShowOfficialImageRequest",
        "response_type": "ShowOfficialImageResponse",
        "cname": None,
        "collection_formats": {},
        "path_params": {"namespace": namespace, "repository": repository},
        "query_params": [],
        "header_params": header_params,
        "post_params": {},
        "body": None,
        "response_headers": [],
    }
    return client._call_api(**http_info)


@pytest.mark.parametrize(
    ("repository", "name"), [("nginx", "nginx"), ("library$nginx", "library/nginx")]
)
def test_the_sdk_reads_an_image_with_basic_credentials(signing_server, repository, name):
    ak, sk = signing_server.keys["sdk"]
    response = show_official_image(
        sdk_client(signing_server.base_url, ak, sk), "official", repository
    )
    assert response.status_code == 200
    assert isinstance(response, ShowOfficialImageResponse)
    assert (response.namespace, response.name) == ("official", name)
    if name == "nginx":
        assert (response.pull_count, response.last_updated) == (123123123, "2017-10-16 21:33:44")


def test_the_sdk_sees_a_404_as_client_request_exception(spec, signing_server):
    ak, sk = signing_server.keys["sdk"]
    client = sdk_client(signing_server.base_url, ak, sk)
    with pytest.raises(ClientRequestException) as caught:
        show_official_image(client, "official", "no-such-image", request_id="sdk-404")
    error = caught.value
    assert error.status_code == 404
    assert error.error_code == expected_error_code(spec, 404)
    assert error.error_msg == "Image does not exist."
    assert error.request_id == "sdk-404"


@pytest.mark.parametrize("who", ["wrong secret", "disabled", "deleted"])
def test_the_sdk_sees_a_401_as_client_request_exception(spec, signing_server, who):
    if who == "wrong secret":
        ak, sk = signing_server.keys["sdk"][0], "x" * 40
    else:
        ak, sk = signing_server.keys[who]
    client = sdk_client(signing_server.base_url, ak, sk)
    with pytest.raises(ClientRequestException) as caught:
        show_official_image(client, "official", "nginx", request_id="sdk-401")
    error = caught.value
    assert error.status_code == 401
    assert error.error_code == expected_error_code(spec, 401)
    assert error.error_msg.startswith("Authentication failed: ")
    assert error.request_id == "sdk-401"
    assert ak not in error.error_msg


# --- Refusals over a real socket -------------------------------------------------------------


def sdk_signed(
    ak: str,
    sk: str,
    base_url: str,
    path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    date: datetime | None = None,
    method: str = "GET",
) -> list[tuple[str, str]]:
    """The headers the SDK's own signer sends for this request, in order."""
    headers = {"Content-Type": "application/json", "X-Project-Id": PROJECT_ID}
    if date is not None:
        headers["X-Sdk-Date"] = date.strftime("%Y%m%dT%H%M%SZ")
    request = SdkRequest(
        method=method,
        schema="http",
        host=base_url.removeprefix("http://"),
        resource_path=path,
        query_params=list(query or []),
        header_params=headers,
        body=None,
    )
    signed = Signer(SimpleNamespace(ak=ak, sk=sk)).sign(request)
    return list(signed.header_params.items())


def raw_request(method: str, target: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1")


def replace(headers: list[tuple[str, str]], name: str, value: str | None) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in headers if k.lower() != name.lower()]
    return kept if value is None else [*kept, (name, value)]


def tamper_authorization(headers, change) -> list[tuple[str, str]]:
    value = dict((k.lower(), v) for k, v in headers)["authorization"]
    return replace(headers, "Authorization", change(value))


NGINX = path_for("official", "nginx")


@dataclass
class Tampered:
    id: str
    reason: str  # in the error message
    build: object  # (server, ak, sk) -> (target, headers)


def _signed(server, ak, sk, path=NGINX, **kwargs):
    return path, sdk_signed(ak, sk, server.base_url, path, **kwargs)


def _with(name, value, **kwargs):
    def build(server, ak, sk):
        target, headers = _signed(server, ak, sk, **kwargs)
        return target, replace(headers, name, value)

    return build


def _key(which):
    def build(server, ak, sk):
        return _signed(server, *server.keys[which])

    return build


TAMPERED = [
    Tampered("unknown access key", KEY_REFUSED, lambda s, ak, sk: _signed(s, "A" * 20, sk)),
    Tampered("disabled key", KEY_REFUSED, _key("disabled")),
    Tampered("deleted key", KEY_REFUSED, _key("deleted")),
    Tampered(
        "signed with another secret",
        KEY_REFUSED,
        lambda s, ak, sk: _signed(s, ak, "y" * 40),
    ),
    Tampered(
        "signature altered",
        KEY_REFUSED,
        lambda s, ak, sk: (
            NGINX,
            tamper_authorization(
                _signed(s, ak, sk)[1],
                lambda v: v[:-1] + ("0" if v[-1] != "0" else "1"),
            ),
        ),
    ),
    Tampered(
        "signed header missing",
        "a signed header is missing from the request",
        _with("X-Project-Id", None),
    ),
    Tampered(
        "signed header altered",
        KEY_REFUSED,
        _with("X-Project-Id", "ffffffffffffffffffffffffffffffff"),
    ),
    Tampered(
        "path changed",
        KEY_REFUSED,
        lambda s, ak, sk: (path_for("official", "redis"), _signed(s, ak, sk)[1]),
    ),
    Tampered(
        "query added",
        KEY_REFUSED,
        lambda s, ak, sk: (NGINX + "?namespace=x", _signed(s, ak, sk)[1]),
    ),
    Tampered(
        "query changed",
        KEY_REFUSED,
        lambda s, ak, sk: (NGINX + "?a=2", _signed(s, ak, sk, query=[("a", "1")])[1]),
    ),
    Tampered(
        "Host changed",
        KEY_REFUSED,
        _with("Host", "swr.example.com"),
    ),
    Tampered("X-Sdk-Date missing", "the X-Sdk-Date header is missing", _with("X-Sdk-Date", None)),
    Tampered(
        "X-Sdk-Date malformed",
        "X-Sdk-Date is not one date of the form YYYYMMDDTHHMMSSZ",
        _with("X-Sdk-Date", "2026-11-30T13:00:00Z"),
    ),
    Tampered(
        "X-Sdk-Date impossible",
        "X-Sdk-Date is not one date of the form YYYYMMDDTHHMMSSZ",
        _with("X-Sdk-Date", "20261399T250000Z"),
    ),
    Tampered(
        "X-Sdk-Date 16 minutes old",
        "more than 15 minutes off the server's clock",
        lambda s, ak, sk: _signed(s, ak, sk, date=datetime.now(UTC) - timedelta(minutes=16)),
    ),
    Tampered(
        "X-Sdk-Date 16 minutes ahead",
        "more than 15 minutes off the server's clock",
        lambda s, ak, sk: _signed(s, ak, sk, date=datetime.now(UTC) + timedelta(minutes=16)),
    ),
    Tampered(
        "token and signature",
        "both an X-Auth-Token and an SDK-HMAC-SHA256 signature",
        lambda s, ak, sk: (NGINX, [*_signed(s, ak, sk)[1], ("X-Auth-Token", s.live.tokens.valid)]),
    ),
    Tampered(
        "bad token and valid signature",
        "both an X-Auth-Token and an SDK-HMAC-SHA256 signature",
        lambda s, ak, sk: (NGINX, [*_signed(s, ak, sk)[1], ("X-Auth-Token", "swr_nope")]),
    ),
    Tampered(
        "token and lower-case signature",
        "both an X-Auth-Token and an SDK-HMAC-SHA256 signature",
        lambda s, ak, sk: (
            NGINX,
            [
                *tamper_authorization(
                    _signed(s, ak, sk)[1], lambda v: v.replace("SDK-HMAC-SHA256", "sdk-hmac-sha256")
                ),
                ("X-Auth-Token", s.live.tokens.valid),
            ],
        ),
    ),
    Tampered(
        "Authorization malformed",
        "not an SDK-HMAC-SHA256 signature",
        lambda s, ak, sk: (
            NGINX,
            tamper_authorization(_signed(s, ak, sk)[1], lambda v: v.replace(", ", " ")),
        ),
    ),
    Tampered(
        "Authorization another algorithm",
        "not an SDK-HMAC-SHA256 signature",
        lambda s, ak, sk: (
            NGINX,
            tamper_authorization(_signed(s, ak, sk)[1], lambda v: v.replace("SHA256", "SM3")),
        ),
    ),
    Tampered(
        "Authorization sent twice",
        "more than one Authorization header",
        lambda s, ak, sk: (
            NGINX,
            [*(h := _signed(s, ak, sk)[1]), next((k, v) for k, v in h if k == "Authorization")],
        ),
    ),
    Tampered(
        "Authorization too long",
        "the Authorization header is too long",
        lambda s, ak, sk: (
            NGINX,
            tamper_authorization(_signed(s, ak, sk)[1], lambda v: v + " " * 4000 + "x"),
        ),
    ),
    Tampered(
        "too many signed headers",
        "more than 32 signed headers",
        lambda s, ak, sk: (
            NGINX,
            tamper_authorization(
                _signed(s, ak, sk)[1],
                lambda v: v.replace(
                    "SignedHeaders=", "SignedHeaders=" + ";".join(f"h{i}" for i in range(40)) + ";"
                ),
            ),
        ),
    ),
    Tampered(
        "host not signed",
        "SignedHeaders must include host and x-sdk-date",
        lambda s, ak, sk: (
            NGINX,
            tamper_authorization(_signed(s, ak, sk)[1], lambda v: v.replace("host;", "")),
        ),
    ),
]


def test_the_scheme_word_is_case_insensitive(signing_server):
    # RFC 9110 §11.1: an authentication scheme is matched without regard to case.
    ak, sk = signing_server.keys["sdk"]
    headers = tamper_authorization(
        sdk_signed(ak, sk, signing_server.base_url, NGINX),
        lambda v: v.replace("SDK-HMAC", "Sdk-Hmac"),
    )
    response = send_raw(signing_server.base_url, raw_request("GET", NGINX, headers))
    assert response.status == 200, response.body


def test_a_signed_request_over_a_raw_socket_is_served(signing_server):
    ak, sk = signing_server.keys["sdk"]
    for method in ("GET", "HEAD"):
        target, headers = NGINX, sdk_signed(ak, sk, signing_server.base_url, NGINX, method=method)
        response = send_raw(signing_server.base_url, raw_request(method, target, headers))
        assert response.status == 200, response.body


@pytest.mark.parametrize("case", TAMPERED, ids=[case.id for case in TAMPERED])
def test_a_tampered_request_is_refused(spec, signing_server, case):
    ak, sk = signing_server.keys["sdk"]
    target, headers = case.build(signing_server, ak, sk)
    response = send_raw(signing_server.base_url, raw_request("GET", target, headers))
    assert response.status == 401, response.body
    body = response.json()
    assert body["error_code"] == expected_error_code(spec, 401)
    assert body["error_msg"].startswith("Authentication failed: "), body
    assert case.reason in body["error_msg"], body
    assert_request_id(spec, response.headers, body)
    authorization = dict((k.lower(), v) for k, v in headers).get("authorization", "")
    signature = authorization.rpartition("Signature=")[2]
    for secret in (ak, sk, signature, signing_server.live.tokens.valid):
        assert secret not in response.body.decode(), case.id


@pytest.mark.parametrize("who", ["unknown", "disabled", "deleted", "wrong secret"])
def test_key_refusals_say_the_same_whatever_the_key(spec, signing_server, who):
    ak, sk = {
        "unknown": ("A" * 20, "x" * 40),
        "wrong secret": (signing_server.keys["sdk"][0], "x" * 40),
    }.get(who) or signing_server.keys[who]
    response = signed_get(signing_server.base_url, ak, sk)

    assert response.status_code == 401
    assert response.json()["error_msg"] == f"Authentication failed: {KEY_REFUSED}."


def scope_of(path: str, headers: list[tuple[str, str]]) -> dict:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    }


def test_an_unknown_or_refused_key_costs_the_work_of_a_wrong_signature(engine, monkeypatch):
    """The same query, decryption and comparison whatever the key: the time a refusal takes
    does not tell which access keys exist or their state."""
    import hmac

    from sqlalchemy import event

    from swr_official_images.http.aksk import SignatureRefused, verify
    from swr_official_images.store.access_keys import AccessKeyStore

    keys = AccessKeyStore(engine, b"k" * 32)
    good = keys.create("good")
    disabled = keys.create("off")
    keys.disable("off")
    work: list[str] = []

    def query(_conn, _cursor, statement, *_):
        if statement.lstrip().upper().startswith("SELECT"):  # not SQLite's BEGIN
            work.append("query")

    event.listen(engine, "before_cursor_execute", query)
    aead = keys._aead

    class CountingAead:
        def decrypt(self, *args):
            work.append("decrypt")
            return aead.decrypt(*args)

    monkeypatch.setattr(keys, "_aead", CountingAead())
    compare_digest = hmac.compare_digest

    def spy(a, b):
        work.append("compare")
        return compare_digest(a, b)

    monkeypatch.setattr("swr_official_images.http.aksk.hmac.compare_digest", spy)
    scope = scope_of(NGINX, sdk_signed(*good, "http://swr.example.com", NGINX))
    assert verify(scope, keys).key_name == "good"
    cases = {
        "unknown": ("B" * 20, "x" * 40),
        "not an access key id": ("abc", "x" * 40),
        "disabled": disabled,
        "wrong secret": (good[0], "x" * 40),
    }
    for case, (ak, sk) in cases.items():
        work.clear()
        scope = scope_of(NGINX, sdk_signed(ak, sk, "http://swr.example.com", NGINX))
        with pytest.raises(SignatureRefused) as refused:
            verify(scope, keys)
        assert str(refused.value) == KEY_REFUSED, case
        assert sorted(work) == ["compare", "decrypt", "query"], case


def test_signatures_are_compared_in_constant_time(signing_server, monkeypatch):
    import hmac

    calls = []
    compare_digest = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr("swr_official_images.http.aksk.hmac.compare_digest", spy)
    ak, sk = signing_server.keys["sdk"]
    headers = sdk_signed(ak, sk, signing_server.base_url, NGINX)
    assert send_raw(signing_server.base_url, raw_request("GET", NGINX, headers)).status == 200
    assert calls and all(len(a) == len(b) == 64 for a, b in calls)


def test_secrets_and_signatures_never_reach_the_log(signing_server, caplog):
    caplog.set_level(logging.DEBUG)
    ak, sk = signing_server.keys["sdk"]
    headers = sdk_signed(ak, sk, signing_server.base_url, NGINX)
    signature = dict(headers)["Authorization"].rpartition("Signature=")[2]
    assert send_raw(signing_server.base_url, raw_request("GET", NGINX, headers)).status == 200
    for case in TAMPERED:
        target, tampered = case.build(signing_server, ak, sk)
        send_raw(signing_server.base_url, raw_request("GET", target, tampered))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "'sdk'" in logged  # the key's name is what the log records
    assert sk not in logged
    assert signature not in logged


# --- The generated client, signed through httpx's auth hook ----------------------------------


def test_the_generated_client_signs_with_the_httpx_auth(signing_server):
    from swr_official_images_client import Client, SdkHmacSha256Auth
    from swr_official_images_client.api.official_images import show_official_image as show
    from swr_official_images_client.models import Error, OfficialImage

    ak, sk = signing_server.keys["sdk"]
    client = Client(
        base_url=signing_server.base_url, httpx_args={"auth": SdkHmacSha256Auth(ak, sk)}
    )
    with client:
        image = show.sync_detailed("official", "library$nginx", client=client)
        missing = show.sync_detailed("official", "no-such-image", client=client)
    assert image.status_code == 200 and isinstance(image.parsed, OfficialImage), image.content
    assert image.parsed.name == "library/nginx"
    assert missing.status_code == 404 and isinstance(missing.parsed, Error)

    wrong = Client(
        base_url=signing_server.base_url, httpx_args={"auth": SdkHmacSha256Auth(ak, "z" * 40)}
    )
    with wrong:
        refused = show.sync_detailed("official", "nginx", client=wrong)
    assert refused.status_code == 401 and isinstance(refused.parsed, Error)


# --- Keys: the commands, restarts, processes, the master key ---------------------------------


def test_key_commands(store, tmp_path):
    with fresh_database(store, tmp_path) as url:
        migrate(url)
        ak, sk = create_key(url, "ci")
        assert len(ak) == 20 and len(sk) == 40
        assert key_cli(url, "create", "ci").code == 1  # names are unique
        listed = key_cli(url, "list")
        assert listed.code == 0
        assert "ci" in listed.out and ak in listed.out and "active" in listed.out
        assert sk not in listed.out + listed.err
        assert key_cli(url, "disable", "ci").code == 0
        assert "disabled" in key_cli(url, "list").out
        assert key_cli(url, "delete", "ci").code == 0
        assert ak not in key_cli(url, "list").out
        for action in ("disable", "delete"):
            result = key_cli(url, action, "nobody")
            assert result.code == 1 and "no key named 'nobody'" in result.err


@pytest.mark.parametrize("name", ["ci\n", "ci\r", "\nci", "has space", ""])
def test_a_key_name_with_a_line_break_is_refused(engine, name):
    from swr_official_images.store.access_keys import AccessKeyError, AccessKeyStore

    keys = AccessKeyStore(engine, b"k" * 32)
    with pytest.raises(AccessKeyError, match="key name must be 1-64 characters"):
        keys.create(name)
    assert keys.list() == []


def test_the_key_file_is_private_and_beside_the_database(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    create_key(url, "ci")
    path = key_file_path(Settings(database_url=url))
    assert path == tmp_path / "store.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_postgresql_without_a_master_key_refuses_to_create_keys(empty_postgresql_url):
    migrate(empty_postgresql_url)
    result = run_cli(empty_postgresql_url, "key", "create", "ci")
    assert result.code == 1
    assert result.out == ""
    assert "SWR_SECRET_KEY" in result.err


def signed_get(base_url: str, ak: str, sk: str) -> httpx.Response:
    from swr_official_images_client import SdkHmacSha256Auth

    return httpx.get(base_url + NGINX, auth=SdkHmacSha256Auth(ak, sk))


def test_keys_survive_a_restart(store, tmp_path, catalog_file):
    with fresh_database(store, tmp_path) as url:
        extra = master_key(url)
        with start_loaded_server(url, catalog_file, **extra) as first:
            ak, sk = create_key(url, "ci")
            assert signed_get(first.base_url, ak, sk).status_code == 200
        with serve(Settings(database_url=url, **extra)) as second:
            assert signed_get(second, ak, sk).status_code == 200


def test_a_disabled_key_is_refused_at_once_by_every_process(store, tmp_path, catalog_file):
    with (
        fresh_database(store, tmp_path) as url,
        start_loaded_server(url, catalog_file, **master_key(url)) as first,
        serve(Settings(database_url=url, **master_key(url))) as second,
    ):
        ak, sk = create_key(url, "ci")
        for base_url in (first.base_url, second):
            assert signed_get(base_url, ak, sk).status_code == 200
        assert key_cli(url, "disable", "ci").code == 0
        # No wait at all: every process reads the key's state on every request.
        for base_url in (first.base_url, second):
            response = signed_get(base_url, ak, sk)
            assert response.status_code == 401
            assert KEY_REFUSED in response.json()["error_msg"]


def test_a_changed_master_key_refuses_with_a_log_line_not_a_500(tmp_path, catalog_file, caplog):
    url = f"sqlite:///{tmp_path}/store.db"
    with start_loaded_server(url, catalog_file) as live:
        ak, sk = create_key(url, "ci")
        assert signed_get(live.base_url, ak, sk).status_code == 200
    caplog.set_level(logging.ERROR)
    another = "YW5vdGhlciBtYXN0ZXIga2V5IGZvciB0aGUgdGVzdHM="
    with serve(Settings(database_url=url, secret_key=another)) as base:
        responses = [signed_get(base, ak, sk) for _ in range(2)]
    assert [r.status_code for r in responses] == [401, 401]
    assert KEY_REFUSED in responses[0].json()["error_msg"]
    lines = [r.getMessage() for r in caplog.records if "cannot be decrypted" in r.getMessage()]
    assert len(lines) == 1, lines  # once, not once per request
    assert "'ci'" in lines[0] and "master key" in lines[0]


def test_without_a_master_key_signatures_are_refused_and_tokens_still_work(
    empty_postgresql_url, catalog_file, caplog
):
    caplog.set_level(logging.WARNING)
    with start_loaded_server(empty_postgresql_url, catalog_file) as live:
        assert any("SWR_SECRET_KEY is not set" in r.getMessage() for r in caplog.records)
        refused = signed_get(live.base_url, "A" * 20, "s" * 40)
        token = httpx.get(live.base_url + NGINX, headers={"X-Auth-Token": live.tokens.valid})
    assert refused.status_code == 401
    assert KEY_REFUSED in refused.json()["error_msg"]
    assert token.status_code == 200


def test_every_operation_that_takes_a_token_takes_a_signature(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "security" not in operation:
                continue
            schemes = [name for requirement in operation["security"] for name in requirement]
            assert ("AuthToken" in schemes) == ("AkSk" in schemes), (method, path, schemes)


def test_a_signed_list_with_a_query_is_served_and_a_changed_query_is_not(signing_server):
    from swr_official_images_client import SdkHmacSha256Auth

    ak, sk = signing_server.keys["sdk"]
    auth = SdkHmacSha256Auth(ak, sk)
    url = signing_server.base_url + "/v2/manage/dockerhub/namespaces/official/repos"
    page = httpx.get(url, params={"name": "ngin", "limit": "5"}, auth=auth)
    assert page.status_code == 200, page.text
    assert [image["name"] for image in page.json()["repos"]] == ["nginx"]

    def change_query(request: httpx.Request) -> None:
        request.url = request.url.copy_with(query=b"limit=6&name=ngin")

    signed = httpx.Client(auth=auth, event_hooks={"request": [change_query]})
    with signed:
        refused = signed.get(url, params={"name": "ngin", "limit": "5"})
    assert refused.status_code == 401
    assert "the signature does not match the request" in refused.json()["error_msg"]


# Every list parameter is a name, so a value with a space, "+" or "é" passes the signature
# check and is then refused by validation (400): security runs first.
AUTHENTICATED, REFUSED = 400, 401


@pytest.mark.parametrize(
    ("signed_value", "sent_query", "status"),
    [
        ("ngin+x", "name=ngin%2Bx", AUTHENTICATED),
        # The app reads "+" as a space: a signature for "+" does not cover a space.
        ("ngin+x", "name=ngin+x", REFUSED),
        ("ngin x", "name=ngin+x", AUTHENTICATED),
        ("ngin x", "name=ngin%20x", AUTHENTICATED),
        ("ngin x", "name=ngin%2Bx", REFUSED),
        ("nginé", "name=ngin%C3%A9", AUTHENTICATED),
    ],
)
def test_the_signed_query_is_the_query_the_app_reads(
    spec, signing_server, signed_value, sent_query, status
):
    ak, sk = signing_server.keys["sdk"]
    path = NGINX.rpartition("/")[0]
    headers = sdk_signed(ak, sk, signing_server.base_url, path, query=[("name", signed_value)])

    response = send_raw(
        signing_server.base_url, raw_request("GET", f"{path}?{sent_query}", headers)
    )

    assert response.status == status, response.body
    if status == AUTHENTICATED:
        assert "does not match the naming rules" in response.json()["error_msg"]


# --- Logs and metrics of the real process -----------------------------------------------------

# The 401-by-reason metric's label for each refusal above: a bounded set, finer than "signature"
# but never the error message itself.
REFUSAL_METRIC = {
    "unknown access key": "aksk_unknown_key",
    "disabled key": "aksk_disabled",
    "deleted key": "aksk_unknown_key",
    "signed with another secret": "aksk_bad_signature",
    "signature altered": "aksk_bad_signature",
    "signed header missing": "aksk_malformed",
    "signed header altered": "aksk_bad_signature",
    "path changed": "aksk_bad_signature",
    "query added": "aksk_bad_signature",
    "query changed": "aksk_bad_signature",
    "Host changed": "aksk_bad_signature",
    "X-Sdk-Date missing": "aksk_malformed",
    "X-Sdk-Date malformed": "aksk_malformed",
    "X-Sdk-Date impossible": "aksk_malformed",
    "X-Sdk-Date 16 minutes old": "aksk_clock_skew",
    "X-Sdk-Date 16 minutes ahead": "aksk_clock_skew",
    "token and signature": "ambiguous",
    "bad token and valid signature": "ambiguous",
    "token and lower-case signature": "ambiguous",
    "Authorization malformed": "aksk_malformed",
    "Authorization another algorithm": "aksk_malformed",
    "Authorization sent twice": "aksk_malformed",
    "Authorization too long": "aksk_malformed",
    "too many signed headers": "aksk_malformed",
    "host not signed": "aksk_malformed",
}


@pytest.mark.slow
def test_signed_requests_are_logged_by_key_name_and_refusals_counted_by_reason(
    store, tmp_path, catalog_file
):
    from tests.processes.test_observability import access_lines, requests_of, scrape, value

    assert set(REFUSAL_METRIC) == {case.id for case in TAMPERED}, "classify every refusal"
    with fresh_database(store, tmp_path) as url:
        migrate(url)
        assert run_cli(url, "import", str(catalog_file)).code == 0
        token = run_cli(url, "token", "create", "a-token").out.strip()
        keys = {name: create_key(url, name) for name in ("sdk", "disabled", "deleted")}
        assert key_cli(url, "disable", "disabled").code == 0
        assert key_cli(url, "delete", "deleted").code == 0
        env = {"SWR_SECRET_KEY": SECRET} if master_key(url) else {}
        sent_headers: list[list[tuple[str, str]]] = []
        expected: dict[str, str | None] = {}  # request id -> the refusal's reason, None: served
        with serve_process(url, tmp_path, env=env) as server:
            target = SimpleNamespace(
                base_url=server.base_url,
                keys=keys,
                live=SimpleNamespace(tokens=SimpleNamespace(valid=token)),
            )
            ak, sk = keys["sdk"]
            requests = [(None, (NGINX, sdk_signed(ak, sk, server.base_url, NGINX)))]
            list_path = NGINX.rpartition("/")[0]
            requests.append((None, (list_path, sdk_signed(ak, sk, server.base_url, list_path))))
            requests += [(REFUSAL_METRIC[case.id], case.build(target, ak, sk)) for case in TAMPERED]
            for reason, (path, headers) in requests:
                request_id = uuid.uuid4().hex
                sent_headers.append(headers)
                response = send_raw(
                    server.base_url,
                    raw_request("GET", path, [*headers, ("X-Request-Id", request_id)]),
                )
                assert response.status == (200 if reason is None else 401), response.body
                expected[request_id] = reason
            samples = scrape(server.base_url)
        log = server.stdout.read_text() + server.stderr.read_text()

    access = access_lines(server.log_lines())
    for request_id, reason in expected.items():
        line = access[request_id]
        assert "token_name" not in line, line
        if reason is None:
            assert line["key_name"] == "sdk" and "auth_failure" not in line, line
        else:
            assert line["auth_failure"] == reason and "key_name" not in line, line
    for reason in {*REFUSAL_METRIC.values()}:
        count = sum(1 for r in expected.values() if r == reason)
        assert value(samples, "swr_auth_failures_total", reason=reason) == count, reason
    assert value(samples, "swr_authenticated_requests_total", scheme="aksk") == 2
    assert value(samples, "swr_authenticated_requests_total", scheme="token") == 0
    assert requests_of(samples, "list_official_images", 200) == 1
    # Neither a secret nor a signature, nor the key's id, reaches the log.
    signatures = {
        field.rpartition("Signature=")[2]
        for headers in sent_headers
        for name, field in headers
        if name.lower() == "authorization"
    }
    for secret in {*signatures, *(sk for _, sk in keys.values()), token}:
        assert secret not in log
    assert all(ak not in log for ak, _ in keys.values())
