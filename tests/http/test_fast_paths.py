"""What the shortcuts taken through Connexion's extension points must keep: the same answers
as Connexion's general paths, and state that stays bounded however many requests come."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http.client
import re
import socket
import subprocess
import sys
from typing import Any

import connexion.context
import connexion.decorators.parameter
import connexion.security
import httpx
import pytest
from connexion.exceptions import OAuthProblem, OAuthResponseProblem
from connexion.lifecycle import ConnexionRequest
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.options import SwaggerUIOptions
from connexion.spec import Specification
from starlette.exceptions import HTTPException
from starlette.responses import Response as StarletteResponse
from starlette.routing import Match, Mount, Route, Router

from swr_official_images import handlers
from swr_official_images.app import create_app
from swr_official_images.http import errors, transport, validation
from swr_official_images.http.error_codes import ErrorCode
from swr_official_images.http.requests import ScopeRequest
from swr_official_images.http.routing import OperationRouter
from swr_official_images.http.security import AuthenticationRefused, refused_response
from swr_official_images.http.swagger_ui import RenderedSpecSwaggerUIMiddleware
from swr_official_images.http.validation import _direct_check
from swr_official_images.patterns import SpecValidator
from swr_official_images.request_context import open_notes
from swr_official_images.settings import Settings
from swr_official_images.spec import load_spec, parameter_schema
from tests.conftest import serve, serve_copy

PATH = "/v2/manage/dockerhub/namespaces/{namespace}/repos/{repository}"

VALUES = [
    "nginx",
    "library$nginx",
    "a" * 64,
    "a" * 65,
    "a" * 128,
    "a" * 129,
    "",
    "nginx\n",
    "Nginx",
    "a__b",
    "a___b",
    "a--b",
    "a.-b",
    "-nginx",
    "nginx-",
    "ngïnx",
    "1nginx",
    "a" + "\u00e9" * 63,
    12,
    None,
]


@pytest.mark.parametrize("name", ["namespace", "repository"])
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_direct_check_agrees_with_jsonschema(name, value):
    schema = parameter_schema(name)
    direct = _direct_check(schema)
    assert direct is not None
    assert direct(value) == SpecValidator(schema).is_valid(value)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "enum": ["a"]},
        {"type": "integer", "minimum": 1},
        {"type": "string", "format": "date"},
        {"minLength": 1},
    ],
)
def test_schemas_with_other_keywords_get_no_direct_check(schema):
    assert _direct_check(schema) is None


def get(live_server, repository: str, method: str = "GET") -> httpx.Response:
    url = live_server.base_url + PATH.format(namespace="official", repository=repository)
    return httpx.request(method, url, headers={"X-Auth-Token": live_server.tokens.valid})


def test_each_request_gets_its_own_arguments(live_server):
    """The handler's decorators are built once per operation: the arguments are still each
    request's own, on every method, interleaved."""
    names = ["nginx", "redis", "library$nginx", "postgres", "nginx"]
    for name in names:
        got = get(live_server, name)
        assert got.status_code == 200
        assert got.json()["name"] == name.replace("$", "/")
        head = get(live_server, name, "HEAD")
        assert head.status_code == 200
        assert head.headers["content-length"] == got.headers["content-length"]
        options = get(live_server, name, "OPTIONS")
        assert options.status_code == 204
        assert options.headers["allow"] == "GET, HEAD, OPTIONS"
    assert get(live_server, "no-such-image").status_code == 404
    bad = get(live_server, "Nginx")
    assert bad.status_code == 400
    assert bad.json()["error_msg"] == (
        "Invalid path parameter 'repository': does not match the naming rules."
    )


def test_parameter_checks_are_kept_per_definition_not_per_request(live_server):
    get(live_server, "nginx")
    before = set(validation._checks)
    for name in ["nginx", "redis", "Nginx", "a" * 200, "nginx"] * 10:
        get(live_server, name)
    # One entry per parameter definition, whoever holds the validator: fifty more requests add
    # none.
    assert set(validation._checks) == before


FREEZE_COUNTS = """
import gc, sys
from swr_official_images.app import app_for_process
from swr_official_images.settings import Settings
before = gc.get_freeze_count()
app_for_process(Settings(database_url=sys.argv[1]))
print(before, gc.get_freeze_count())
"""


@pytest.mark.slow
def test_a_server_process_freezes_what_it_built(tmp_path):
    # The objects that live as long as the process are out of the collector's full passes.
    database_url = f"sqlite:///{tmp_path}/db.sqlite"
    result = subprocess.run(
        [sys.executable, "-c", FREEZE_COUNTS, database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, after = map(int, result.stdout.split())
    assert before == 0
    # The spec, the routes and their validators: tens of thousands of objects.
    assert after > 10_000


def test_building_and_serving_an_app_freezes_nothing(database_url):
    # Frozen objects are never collected: a test process that starts many servers must not
    # keep the garbage of every earlier test.
    before = gc.get_freeze_count()
    with serve(Settings(database_url=database_url)) as base_url:
        assert httpx.get(base_url + "/healthz").status_code == 200
    assert gc.get_freeze_count() == before


def _requests(tokens) -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, headers): every layer's answers, each operation's and the refusals."""
    image = PATH.format(namespace="official", repository="nginx")
    listing = "/v2/manage/dockerhub/namespaces/official/repos"
    token = {"X-Auth-Token": tokens.valid}
    return [
        ("GET", image, token),
        ("HEAD", image, token),
        ("OPTIONS", image, token),
        ("GET", PATH.format(namespace="official", repository="library$nginx"), token),
        ("GET", PATH.format(namespace="official", repository="no-such-image"), token),
        ("GET", PATH.format(namespace="official", repository="Nginx"), token),
        ("GET", PATH.format(namespace="official", repository="a" * 129), token),
        ("GET", image, {}),
        ("GET", image, {"X-Auth-Token": tokens.revoked}),
        ("GET", image, {"X-Auth-Token": ""}),
        ("GET", image, {**token, "If-None-Match": '"not-the-tag"'}),
        ("GET", image, {**token, "If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}),
        ("GET", image, {**token, "If-Modified-Since": "not a date"}),
        ("GET", image, {**token, "Content-Type": "text/plain"}),
        ("GET", image + "/", token),
        ("DELETE", image, token),
        ("GET", listing + "?limit=2", token),
        ("GET", listing + "?limit=2&marker=nginx", token),
        ("GET", listing + "?limit=0", token),
        ("GET", listing + "?limit=2&limit=3", token),
        ("GET", listing + "?unknown=1", token),
        ("HEAD", listing, token),
        ("GET", listing, {}),
        ("GET", "/healthz", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/openapi.yaml", {}),
        ("GET", "/ui/", {}),
        ("GET", "/elsewhere", {}),
    ]


_COMPARED_HEADERS = (
    "content-type", "cache-control", "x-content-type-options", "x-request-id", "etag",
    "last-modified", "allow", "www-authenticate", "content-length",
)  # fmt: skip


def _answer(base_url: str, method: str, path: str, headers: dict[str, str]) -> tuple:
    # One request id for both servers: the bodies that carry it are then byte for byte alike.
    response = httpx.request(method, base_url + path, headers={**headers, "X-Request-Id": "same"})
    kept = {name: response.headers.get(name) for name in _COMPARED_HEADERS}
    return response.status_code, kept, response.content


def test_without_response_validation_every_answer_is_the_same(
    live_server, store, loaded_template, tmp_path
):
    """Production serves without response validation, with a shorter stack of layers than the
    tests' servers, which validate: the same requests get the same answers from both."""
    with serve_copy(store, loaded_template, tmp_path, validate_responses=False) as lean:
        assert not lean.settings.validate_responses
        for method, path, headers in _requests(live_server.tokens):
            validated = _answer(live_server.base_url, method, path, headers)
            assert _answer(lean.base_url, method, path, headers) == validated, (method, path)


SWAGGER_UI_PATHS = [
    "/openapi.json", "/openapi.json/", "/openapi.yaml", "/openapi.yml", "/openapi", "/ui",
    "/ui/", "/ui/index.html", "/ui/swagger-ui.css", "/ui/no-such-file", "/uix", "/ui.html",
    "/", "/healthz", "/metrics", "/v2/manage/dockerhub/namespaces/official/repos",
    "/v2/manage/dockerhub/namespaces/official/repos/", "/openapi.json/x", "//openapi.json",
    PATH.format(namespace="official", repository="nginx"),
]  # fmt: skip


@pytest.mark.parametrize("swagger_ui", [True, False])
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", SWAGGER_UI_PATHS)
def test_swagger_ui_is_in_the_way_of_what_its_router_answers_only(path, method, swagger_ui):
    """The paths the middleware hands on without its router are the ones its router would
    have handed on: Connexion's own router decides each path both ways."""
    passed_on = []

    async def next_app(scope: Any, receive: Any, send: Any) -> None:
        passed_on.append(scope["path"])

    middleware = RenderedSpecSwaggerUIMiddleware(next_app)
    options = SwaggerUIOptions(
        serve_spec=swagger_ui, swagger_ui=swagger_ui, spec_path="/openapi.json"
    )
    middleware.add_api(Specification.load(load_spec()), swagger_ui_options=options)

    async def ask(call: Any) -> bool:
        passed_on.clear()
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [],
                 "query_string": b"", "extensions": {}}  # fmt: skip

        async def receive() -> dict[str, object]:
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            pass

        with contextlib.suppress(HTTPException):  # the router's 405: answered, not passed on
            await call(scope, receive, send)
        return bool(passed_on)

    async def both() -> tuple[bool, bool]:
        return await ask(middleware), await ask(SwaggerUIMiddleware.__call__.__get__(middleware))

    shortcut, connexion = asyncio.run(both())
    assert shortcut == connexion


def test_the_image_operations_take_the_direct_way_to_their_handler(live_server, monkeypatch):
    """Their parameters are plain path strings and the conditional headers, which no handler is
    passed: Connexion's general argument assembly runs for the list (query parameters) only."""
    assembled = []
    general = connexion.decorators.parameter.prep_kwargs

    def counted(*args: Any, **kwargs: Any) -> Any:
        assembled.append(connexion.context.operation.operation_id)
        return general(*args, **kwargs)

    monkeypatch.setattr(connexion.decorators.parameter, "prep_kwargs", counted)
    for method in ("GET", "HEAD"):
        response = get(live_server, "nginx", method)
        assert response.status_code == 200
        tag = {"If-None-Match": response.headers["etag"], "X-Auth-Token": live_server.tokens.valid}
        url = live_server.base_url + PATH.format(namespace="official", repository="nginx")
        assert httpx.request(method, url, headers=tag).status_code == 304
    assert assembled == []
    listing = live_server.base_url + "/v2/manage/dockerhub/namespaces/official/repos?limit=2"
    token = {"X-Auth-Token": live_server.tokens.valid}
    assert httpx.get(listing, headers=token).status_code == 200
    assert assembled == ["swr_official_images.handlers.list_official_images"]


def test_a_scope_request_is_connexions_request_as_its_constructor_leaves_it():
    """`ScopeRequest` sets what ConnexionRequest.__init__ sets, to the same values: a Connexion
    release that adds to its constructor fails here, not in a layer that reads the addition."""
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"a", b"b")],
             "query_string": b"", "path_params": {"p": "v"}}  # fmt: skip
    parser = object()
    general = ConnexionRequest(scope, uri_parser=parser)
    direct = ScopeRequest(scope, uri_parser=parser)
    assert isinstance(direct, ConnexionRequest)
    assert vars(direct).keys() == vars(general).keys()
    for name, value in vars(general).items():
        if name == "_starlette_request":
            assert direct._starlette_request.scope is value.scope
        else:
            assert getattr(direct, name) is value, name
    assert dict(direct.headers) == dict(general.headers) == {"a": "b"}


@pytest.mark.parametrize(("repository", "status"), [("nginx", 200), ("no-such-image", 404)])
def test_no_layer_makes_connexions_request_the_general_way(
    live_server, monkeypatch, repository, status
):
    """Security, request validation and the handler's decorators each read the request: they
    make it as `ScopeRequest`, never through ConnexionRequest's constructor. (A refused token is
    answered by Connexion's error handlers, which wrap the request they are given.)"""
    made = []
    general = ConnexionRequest.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append(type(self))
        general(self, *args, **kwargs)

    monkeypatch.setattr(ConnexionRequest, "__init__", counted)
    url = live_server.base_url + PATH.format(namespace="official", repository=repository)
    response = httpx.get(url, headers={"X-Auth-Token": live_server.tokens.valid})
    assert response.status_code == status
    assert made == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Auth-Token": "swr_unknown"}, {"X-Auth-Token": "revoked"}],
    ids=["missing", "unknown", "revoked"],
)
def test_a_request_not_authenticated_is_answered_by_the_security_layer(
    live_server, monkeypatch, headers
):
    """Its 401 does not unwind through routing and the middlewares to the error handlers."""
    handled = []
    general = errors.error_response

    def counted(*args: Any, **kwargs: Any) -> Any:
        handled.append(args[1:])
        return general(*args, **kwargs)

    monkeypatch.setattr(errors, "error_response", counted)
    if headers.get("X-Auth-Token") == "revoked":
        headers = {"X-Auth-Token": live_server.tokens.revoked}
    url = live_server.base_url + PATH.format(namespace="official", repository="nginx")
    response = httpx.get(url, headers=headers)
    assert response.status_code == 401
    assert response.json()["error_code"] == ErrorCode.AUTHENTICATION_FAILED
    assert handled == []


@pytest.mark.parametrize(
    "refused",
    [
        AuthenticationRefused("the token is unknown, expired or revoked", "revoked"),
        AuthenticationRefused("more than one X-Auth-Token header", "duplicate"),
        OAuthResponseProblem(detail="Provided apikey is not valid"),
        OAuthProblem(detail="No authorization token provided"),
    ],
    ids=repr,
)
def test_the_security_layers_401_is_the_error_handlers(refused):
    """The same status, headers, body and noted reason as Connexion's error handling makes of
    `on_problem`'s answer (connexion.middleware.exceptions.connexion_wrapper)."""
    scopes = [{"type": "http", "headers": [], "swr.request_id": "same"} for _ in range(2)]
    notes = [open_notes(scope) for scope in scopes]
    direct = refused_response(scopes[0], refused)
    answer = asyncio.run(errors.on_problem(ConnexionRequest(scopes[1]), refused))
    handled = StarletteResponse(
        content=answer.body,
        status_code=answer.status_code,
        media_type=answer.mimetype,
        headers=answer.headers,
    )
    assert direct.status_code == handled.status_code == 401
    assert direct.body == handled.body
    assert direct.raw_headers == handled.raw_headers
    assert notes[0] == notes[1] and "auth_failure" in notes[0]


def test_an_async_handler_is_not_asked_per_request_whether_it_is_one(live_server, monkeypatch):
    """Connexion's wrapper asked asyncio on every call whether the handler is a coroutine
    function; the sync handlers still go to the thread pool (the list, the liveness probe)."""
    assert get(live_server, "nginx").status_code == 200  # the operation's decorators built
    asked = []
    general = asyncio.iscoroutinefunction

    def counted(function: Any) -> bool:
        asked.append(getattr(function, "__name__", None))
        return general(function)

    monkeypatch.setattr(asyncio, "iscoroutinefunction", counted)
    for _ in range(3):
        assert get(live_server, "nginx").status_code == 200
    assert handlers.show_official_image.__name__ not in asked
    listing = live_server.base_url + "/v2/manage/dockerhub/namespaces/official/repos?limit=2"
    assert httpx.get(listing, headers={"X-Auth-Token": live_server.tokens.valid}).status_code == 200
    assert httpx.get(live_server.base_url + "/healthz").json() == {"status": "ok"}


def test_the_security_check_reads_no_signature_per_request(live_server, monkeypatch):
    """Connexion's API key check inspected the scheme function's signature on every request;
    ours did once, when the operation was built."""
    inspected = []
    inspect = connexion.security.inspect_function_arguments

    def counted(function: Any) -> Any:
        inspected.append(function)
        return inspect(function)

    monkeypatch.setattr(connexion.security, "inspect_function_arguments", counted)
    assert get(live_server, "nginx").status_code == 200
    url = live_server.base_url + PATH.format(namespace="official", repository="nginx")
    assert httpx.get(url, headers={"X-Auth-Token": live_server.tokens.revoked}).status_code == 401
    assert inspected == []


def test_each_parameter_is_validated_once_per_request(live_server, monkeypatch):
    """Connexion appends the path's parameters to the operation's own list in the spec each time
    a middleware builds the operation; the validator holds each parameter once."""
    validated = []
    general = validation.ShortMessageParameterValidator.validate_parameter

    def counted(self: Any, kind: str, value: object, param: dict[str, Any], *a: Any) -> Any:
        validated.append((kind, param["name"]))
        return general(self, kind, value, param, *a)

    monkeypatch.setattr(validation.ShortMessageParameterValidator, "validate_parameter", counted)
    assert get(live_server, "nginx").status_code == 200
    spec = Specification.load(load_spec())
    declared = spec.get_operation(PATH, "get")["parameters"] + spec.get_path_params(PATH)
    expected = [(p["in"], p["name"]) for p in declared]
    assert len(set(expected)) == len(expected) == 4
    assert sorted(validated) == sorted(expected)


def test_an_operations_own_parameter_overrides_its_paths():
    own = {"name": "namespace", "in": "path", "schema": {"type": "string", "maxLength": 8}}
    inherited = {"name": "namespace", "in": "path", "schema": {"type": "string"}}
    header = {"name": "namespace", "in": "header", "schema": {"type": "string"}}
    assert validation.distinct_parameters([own, header, inherited, inherited]) == [own, header]


def _validator(template: str, method: str) -> validation.ShortMessageParameterValidator:
    """An operation's parameter validator, as the app builds it."""
    spec = Specification.load(load_spec())
    declared = spec.get_operation(template, method).get("parameters", [])
    parameters = validation.distinct_parameters(declared + spec.get_path_params(template))
    return validation.ShortMessageParameterValidator(
        parameters,
        uri_parser=validation.PlainPathURIParser(parameters, {}),
        strict_validation=True,
    )


def _refusal(check: Any) -> Any:
    try:
        check()
    except Exception as refused:  # the refusals compared, whatever they are
        return type(refused), getattr(refused, "detail", str(refused))
    return None


_HEADER_CASES = [
    [],
    [(b"if-none-match", b'"a"')],
    [(b"if-none-match", b'"a"'), (b"if-none-match", b"\xff")],
    [(b"if-modified-since", b"Mon, 01 Jan 2024 00:00:00 GMT"), (b"x-auth-token", b"t")],
    [(b"if-modified-since", b"x" * 300)],
]


@pytest.mark.parametrize(
    ("template", "query"),
    [(PATH, b""), ("/v2/manage/dockerhub/namespaces/{namespace}/repos", b"")]
    + [("/v2/manage/dockerhub/namespaces/{namespace}/repos", q) for q in (b"limit=5", b"x=1")],
)
def test_validation_read_from_the_scope_refuses_as_the_general_way(template, query):
    """For each value of each path parameter, and headers present, repeated or absent: the same
    refusal (or none) as Connexion's validation of a request object."""
    validator = _validator(template, "get")
    names = [p["name"] for p in validator.parameters["path"]]
    for value in VALUES:
        if not isinstance(value, str):
            continue
        for headers in _HEADER_CASES:
            scope = {"type": "http", "method": "GET", "path": "/", "headers": headers,
                     "query_string": query, "path_params": dict.fromkeys(names, value)}  # fmt: skip
            general = ScopeRequest(scope, uri_parser=validator.uri_parser)
            expected = _refusal(lambda: validator.validate_request(general))  # noqa: B023
            assert _refusal(lambda: validator.validate(scope)) == expected, (value, headers)  # noqa: B023


def test_validation_read_from_the_scope_reads_headers_as_the_general_way():
    """A required header with a rule, and an optional one: absent, repeated, first or last
    field line the valid one, for each path value."""
    parameters = [
        {"name": "name", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5}},
        {"name": "X-Thing", "in": "header", "required": True,
         "schema": {"type": "string", "pattern": "^a+$", "maxLength": 3}},
        {"name": "If-Match", "in": "header", "schema": {"type": "string", "minLength": 2}},
    ]  # fmt: skip
    validator = validation.ShortMessageParameterValidator(
        parameters, uri_parser=validation.PlainPathURIParser(parameters, {}), strict_validation=True
    )
    header_cases = [
        [],
        [(b"x-thing", b"aa")],
        [(b"x-thing", b"aa"), (b"x-thing", b"b")],
        [(b"x-thing", b"b"), (b"x-thing", b"aa")],
        [(b"x-thing", b"aaaa")],
        [(b"if-match", b"x"), (b"x-thing", b"a")],
        [(b"x-thing", b"a"), (b"if-match", b"xy"), (b"if-match", b"x")],
        [(b"x-thing", b"\xe1")],
    ]
    outcomes = set()
    for value in ("ok", "NOT", "toolong", ""):
        for headers in header_cases:
            scope = {"type": "http", "method": "GET", "path": "/", "headers": headers,
                     "query_string": b"", "path_params": {"name": value}}  # fmt: skip
            general = ScopeRequest(scope, uri_parser=validator.uri_parser)
            expected = _refusal(lambda: validator.validate_request(general))  # noqa: B023
            assert _refusal(lambda: validator.validate(scope)) == expected, (value, headers)  # noqa: B023
            outcomes.add(expected and expected[1].split(":")[0].split("'")[1])
    # Accepted, and refused for each parameter: the cases reach every check.
    assert outcomes == {None, "name", "X-Thing", "If-Match"}, outcomes


def _cyclic_garbage_after(base_url: str, raw_request: bytes, count: int) -> int:
    """How many objects only the cycle collector frees once `count` requests have been answered
    on one connection."""
    host, port = base_url.removeprefix("http://").split(":")
    gc.collect()
    gc.disable()
    try:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            reader = sock.makefile("rb")
            for _ in range(count):
                sock.sendall(raw_request)
                assert reader.readline().startswith(b"HTTP/1.1 ")
                headers = http.client.parse_headers(reader)
                reader.read(int(headers["Content-Length"]))
            reader.close()
        return gc.collect()
    finally:
        gc.enable()


@pytest.mark.parametrize("case", ["found", "not found", "refused"])
def test_a_request_leaves_nothing_for_the_cycle_collector(live_server, case):
    """Every request's objects are freed as soon as they are done with: garbage in reference
    cycles waits for the collector, whose passes stop every request in flight."""
    repository = "no-such-image" if case == "not found" else "nginx"
    token = "swr_unknown" if case == "refused" else live_server.tokens.valid
    raw_request = (
        f"GET {PATH.format(namespace='official', repository=repository)} HTTP/1.1\r\n"
        f"Host: test\r\nX-Auth-Token: {token}\r\n\r\n"
    ).encode()
    _cyclic_garbage_after(live_server.base_url, raw_request, 20)  # caches and pools filled
    few = _cyclic_garbage_after(live_server.base_url, raw_request, 20)
    many = _cyclic_garbage_after(live_server.base_url, raw_request, 220)
    # The connection's own objects are the same for both runs. A cached answer whose time to live
    # ends during a run is loaded again, and a refused token's load leaves its exception's
    # traceback (a few dozen objects) once per load, not per request: below one per request.
    assert many - few < 200, (few, many)


class _CountedWrites:
    """A connection's transport that records what its ResponseWriter writes to it."""

    def __init__(self, transport: Any, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(data)
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def test_every_response_leaves_in_one_write(live_server, monkeypatch):
    """Head and body in one system call (and one segment) per response: found, a HEAD, a 304,
    not found, refused, and the transport's own refusal."""
    writes: list[bytes] = []

    class CountingWriter(transport.ResponseWriter):
        def __init__(self, real: Any) -> None:
            super().__init__(_CountedWrites(real, writes))

    monkeypatch.setattr(transport, "ResponseWriter", CountingWriter)
    image = PATH.format(namespace="official", repository="nginx")
    token = live_server.tokens.valid
    found = httpx.get(live_server.base_url + image, headers={"X-Auth-Token": token})
    cases = [
        ("GET", image, {"X-Auth-Token": token}, 200),
        ("HEAD", image, {"X-Auth-Token": token}, 200),
        ("GET", image, {"X-Auth-Token": token, "If-None-Match": found.headers["ETag"]}, 304),
        ("GET", image.replace("nginx", "no-such-image"), {"X-Auth-Token": token}, 404),
        ("GET", image, {"X-Auth-Token": "swr_unknown"}, 401),
        ("GET", image, {"X-Auth-Token": token, "X-Long": "x" * 70_000}, 431),
    ]
    for method, path, headers, status in cases:
        writes.clear()
        with httpx.Client(base_url=live_server.base_url) as client:
            response = client.request(method, path, headers=headers)
        assert response.status_code == status
        assert len(writes) == 1, (method, status, [w[:40] for w in writes])
        assert writes[0].startswith(b"HTTP/1.1 %d " % status)
        assert writes[0].endswith(response.content)


def _routing(database_url: str) -> RoutingMiddleware:
    app = create_app(Settings(database_url=database_url))
    app.middleware.app, app.middleware.middleware_stack = app.middleware._build_middleware_stack()
    return next(m for m in app.middleware.middleware_stack if isinstance(m, RoutingMiddleware))


def _api_routes(database_url: str) -> list[Route]:
    """The routes Connexion's routing tries for the API, in the order it tries them."""
    (mount,) = _routing(database_url).mounts.routes
    return list(mount.app.routes)


def test_the_api_at_the_root_is_routed_past_its_mount(database_url):
    routing = _routing(database_url)
    (mount,) = routing.mounts.routes
    assert isinstance(mount, Mount) and mount.path == ""
    assert isinstance(mount.app, OperationRouter)
    assert routing.router.api_router is mount.app
    assert routing.router.mounts is routing.mounts


_ROOT_PATHS = [
    PATH.format(namespace="official", repository="nginx"),
    PATH.format(namespace="official", repository="nginx\n"),
    PATH.format(namespace="official", repository="ngi\nnx"),
    "/healthz\n",
    "/healthz/",
    "/nope",
    "*",
    "\n",
]


def test_past_the_root_mount_every_request_reaches_what_the_mount_handed_it_to(database_url):
    """The operation and the root path the next layers see, past the mount as through it."""
    routing = _routing(database_url)
    seen = []

    async def next_app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["extensions"]["connexion_routing"], scope.get("root_path")))

    async def through(router: Any, method: str, path: str) -> Any:
        seen.clear()
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "app": object(),
                 "headers": [], "query_string": b"", "extensions": {}}  # fmt: skip
        routing.router = router
        try:
            await routing(scope, None, None)
        except HTTPException as refused:
            return ("refused", refused.status_code)
        return seen[:]

    # Every way out of the routing goes to next_app.
    routing.mounts.default.next_app = next_app
    for mount in routing.mounts.routes:
        mount.app.default.next_app = next_app
        for route in mount.app.routes:
            route.app.next_app = next_app
    past, mounted = routing.router, routing.mounts
    for path in _ROOT_PATHS:
        for method in ("GET", "HEAD", "POST"):
            answers = [asyncio.run(through(r, method, path)) for r in (past, mounted)]
            assert answers[0] == answers[1], (method, path, answers)


def test_routes_are_tried_deepest_path_first_and_match_only_their_own_path(database_url):
    routes = _api_routes(database_url)
    # The image's GET (the API's most frequent request) is tried second, after its HEAD.
    assert [(r.path, sorted(r.methods or ())) for r in routes[:2]] == [
        (PATH, ["HEAD"]),
        (PATH, ["GET", "HEAD"]),
    ]
    # The order is free to change because no request can match two paths: each of the spec's
    # paths, with a value in each parameter, matches (fully or partly) its own routes only.
    templates = list(load_spec()["paths"])
    assert {r.path for r in routes} == set(templates)
    for template in templates:
        path = re.sub(r"\{[^}]+\}", "some-value", template)
        for method in ("GET", "HEAD", "OPTIONS", "POST"):
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            matched = {r.path for r in routes if r.matches(scope)[0] is not Match.NONE}
            assert matched == {template}, (method, path, matched)


class _Recorded:
    """An ASGI app (an object, which Starlette's routes call as it is) that notes its name."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope["answered_by"] = self.name


def _decision(router: Router, method: str, path: str) -> tuple[Any, ...]:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "app": object(),
             "path_params": {"kept": "1"}, "headers": [], "query_string": b""}  # fmt: skip
    try:
        asyncio.run(router(scope, None, None))
    except HTTPException as refused:
        return ("refused", refused.status_code, refused.headers)
    route = scope.get("route")
    return (scope["answered_by"], route and route.path, scope.get("path_params"))


def test_the_operation_router_decides_as_starlettes(database_url):
    """Over the API's routes (each answering with its own name), for every path of the spec and
    paths beside them, every method: the same route or default, the same path parameters, and
    the same 405 (the partial match it is answered from)."""
    routes = [
        Route(r.path, _Recorded(f"{i}:{r.path}:{sorted(r.methods or ())}"), methods=r.methods)
        for i, r in enumerate(_api_routes(database_url))
    ]
    default = _Recorded("default")
    starlette = Router(routes, redirect_slashes=False, default=default)
    ours = OperationRouter(routes, default=default)
    paths = ["*", "", "/", "/nope", "/v2/manage/dockerhub/namespaces/official"]
    for template in load_spec()["paths"]:
        path = re.sub(r"\{[^}]+\}", "some-value", template)
        paths += [path, path + "/", path + "/more", path.upper(), path + "\n", "\n" + path]
    for path in paths:
        for method in ("GET", "HEAD", "OPTIONS", "POST", "DELETE", "PATCH"):
            assert _decision(ours, method, path) == _decision(starlette, method, path), (
                method,
                path,
            )


def test_an_operation_router_with_other_routes_routes_as_starlettes():
    mounted = Mount("/inner", routes=[Route("/x", _Recorded("x"), methods=["GET"])])
    anything = Route("/any", _Recorded("any"))  # no methods: every method
    for routes in ([mounted], [anything], [Route("/y", _Recorded("y"), methods=["GET"]), mounted]):
        ours = OperationRouter(list(routes), default=_Recorded("default"))
        starlette = Router(list(routes), redirect_slashes=False, default=_Recorded("default"))
        for path in ("/inner/x", "/any", "/y", "/none"):
            for method in ("GET", "POST"):
                assert _decision(ours, method, path) == _decision(starlette, method, path)
