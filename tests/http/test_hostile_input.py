"""Hostile input, sent as raw HTTP over a real socket: every row gets the documented answer.

Each row states the exact status and, for answers with a body, the SWR error code; every answer
must carry a sane X-Request-Id, be no server failure (below 500, or the 505 that refuses an HTTP
version), and keep its message short and free of the input, stack traces, SQL, file paths and the
token. After each row the server must still serve.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import time
from dataclasses import dataclass, field
from http.client import HTTPResponse

import pytest

from swr_official_images.http.error_codes import ErrorCode
from swr_official_images.settings import Settings
from swr_official_images.spec import load_spec
from tests.conftest import serve
from tests.support.contract import (
    assert_request_id,
    expected_cache_control,
    expected_error_code,
    resolve,
)

IMAGE_PATH = "/v2/manage/dockerhub/namespaces/{namespace}/repos/{repository}"
LIST_PATH = "/v2/manage/dockerhub/namespaces/{namespace}/repos"
TOKEN = "<token>"  # replaced by the live server's valid token when the row is sent


@dataclass
class RawResponse:
    status: int
    headers: object
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def send_raw(base_url: str, raw: bytes, timeout: float = 10) -> RawResponse:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(raw)
        response = HTTPResponse(sock, method=raw.split(b" ", 1)[0].decode("latin-1"))
        response.begin()
        return RawResponse(response.status, response.headers, response.read())


def request_bytes(method: str, target: str, headers: list[tuple[str, str | bytes]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1"), b"Host: 127.0.0.1"]
    for name, value in headers:
        value = value if isinstance(value, bytes) else value.encode("latin-1")
        lines.append(name.encode("latin-1") + b": " + value)
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


@dataclass
class Row:
    id: str
    target: str  # path and query, sent as given (already percent-encoded where needed)
    status: int
    code: str | None = None  # None: the spec's example code for the status; "" for no body
    method: str = "GET"
    headers: list[tuple[str, str | bytes]] = field(
        default_factory=lambda: [("X-Auth-Token", TOKEN)]
    )
    raw: bytes | None = None  # a whole request, when it is not even valid HTTP
    echo: str | None = None  # input that must not come back in the message
    name: str | None = None  # for 200: the image name the body must show
    first: str | None = None  # for a 200 page: its first image's name ("" for an empty page)


def image(namespace: str = "official", repository: str = "nginx") -> str:
    return IMAGE_PATH.format(namespace=namespace, repository=repository)


def listing(query: str = "", namespace: str = "official") -> str:
    return LIST_PATH.format(namespace=namespace) + query


SPEC = load_spec()
# The methods the spec says the paths refuse, and the Allow header it promises.
OTHER_METHODS = SPEC["paths"][IMAGE_PATH]["x-other-methods"]["methods"]
LIST_OTHER_METHODS = SPEC["paths"][LIST_PATH]["x-other-methods"]["methods"]
ALLOW = SPEC["components"]["headers"]["Allow"]["schema"]["enum"][0]
NO_ROUTE = ErrorCode.NO_SUCH_RESOURCE.value
NOT_ALLOWED = ErrorCode.METHOD_NOT_ALLOWED.value
GOOD = image()

ROWS = [
    # --- names -------------------------------------------------------------------------------
    Row("namespace uppercase", image("Official"), 400, echo="Official"),
    Row("repository uppercase", image(repository="NGINX"), 400, echo="NGINX"),
    Row("namespace leading separator", image("_official"), 400),
    Row("namespace trailing separator", image("official-"), 400),
    Row("namespace doubled separator", image("off--icial"), 400),
    Row("repository leading separator", image(repository="-nginx"), 400),
    Row("repository trailing separator", image(repository="nginx."), 400),
    Row("repository doubled separator", image(repository="ngi..nx"), 400),
    Row("three underscores", image(repository="ngi___nx"), 400),
    Row("namespace 65 characters", image("n" * 65), 400, echo="n" * 65),
    Row("repository 129 characters", image(repository="r" * 129), 400, echo="r" * 129),
    Row("namespace 64 characters is valid", image("n" * 64), 404, echo="n" * 64),
    Row("repository 128 characters is valid", image(repository="r" * 128), 404),
    Row("empty namespace segment", image(""), 404, NO_ROUTE),
    Row("empty repository segment", image(repository=""), 404, NO_ROUTE),
    Row("unicode letter", image(repository="ng%C3%AFnx"), 400),
    Row("emoji", image(repository="%F0%9F%90%B3"), 400),
    Row("NUL", image(repository="ngi%00nx"), 400),
    # Starlette's routes do not match a name holding a line break: no route, 404.
    Row("newline at the end", image(repository="nginx%0A"), 404, NO_ROUTE),
    Row("carriage return and line feed", image(repository="nginx%0D%0AX-Evil:%201"), 404, NO_ROUTE),
    Row("other control character", image(repository="ngi%01nx"), 400),
    Row("raw control byte in the target", "", 400, raw=b"GET /v2/\x01 HTTP/1.1\r\nHost: a\r\n\r\n"),
    Row(
        "raw non-ASCII bytes in the target",
        "",
        400,
        raw=b"GET /v2/\xc3\xaf HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    Row("encoded slash", image(repository="library%2Fnginx"), 404, NO_ROUTE),
    Row("double-encoded slash", image(repository="library%252Fnginx"), 400),
    Row("dot-dot", image(repository=".."), 400),
    Row("dot", image(repository="."), 400),
    Row("encoded dot-dot", image(repository="%2E%2E"), 400),
    Row("trailing slash", image() + "/", 404, NO_ROUTE),
    Row("dollar at the start", image(repository="$nginx"), 400),
    Row("dollar at the end", image(repository="nginx$"), 400),
    Row("double dollar", image(repository="library$$nginx"), 400),
    Row("nested name with $", image(repository="library$nginx"), 200, name="library/nginx"),
    Row(
        "nested name with encoded $", image(repository="library%24nginx"), 200, name="library/nginx"
    ),
    Row("SQL quote", image(repository="nginx'%20OR%20'1'='1"), 400, echo="OR '1'='1"),
    Row("SQL statement", image(repository="nginx;DROP%20TABLE%20images"), 400, echo="DROP TABLE"),
    Row("SQL comment", image(repository="nginx--"), 400),
    Row("SQL wildcard", image(repository="ngin%25"), 400),
    Row("shell substitution", image(repository="%24(reboot)"), 400),
    Row("shell backticks", image(repository="%60id%60"), 400),
    Row("shell pipe", image(repository="nginx%7Ccat"), 400),
    Row("invalid percent-encoding", image(repository="%zz"), 400),
    Row("unknown query parameter", image() + "?limit=10&evil=%3Cscript%3E", 400, echo="evil"),
    # --- headers -----------------------------------------------------------------------------
    Row("no token", GOOD, 401, headers=[]),
    Row("empty token", GOOD, 401, headers=[("X-Auth-Token", "")]),
    Row("unknown token", GOOD, 401, headers=[("X-Auth-Token", "swr_unknown")], echo="swr_unknown"),
    Row(
        "token with surrounding spaces",
        GOOD,
        200,
        headers=[("X-Auth-Token", f"  {TOKEN}  ")],
        name="nginx",
    ),
    Row(
        "token with surrounding tabs",
        GOOD,
        200,
        headers=[("X-Auth-Token", f"\t{TOKEN}\t")],
        name="nginx",
    ),
    Row("token with inner space", GOOD, 401, headers=[("X-Auth-Token", f"{TOKEN} x")]),
    Row("header name in lower case", GOOD, 200, headers=[("x-auth-token", TOKEN)], name="nginx"),
    Row("two tokens", GOOD, 401, headers=[("X-Auth-Token", TOKEN), ("X-Auth-Token", TOKEN)]),
    Row(
        "token and an unknown one",
        GOOD,
        401,
        headers=[("X-Auth-Token", TOKEN), ("X-Auth-Token", "x")],
    ),
    Row("100 KB token", GOOD, 431, headers=[("X-Auth-Token", "a" * 100_000)]),
    Row("control byte in the token", GOOD, 400, headers=[("X-Auth-Token", b"swr_\x01abc")]),
    Row("token in the query instead", image() + f"?X-Auth-Token={TOKEN}", 401, headers=[]),
    Row("bearer token instead", GOOD, 401, headers=[("Authorization", f"Bearer {TOKEN}")]),
    Row(
        "request id too long",
        GOOD,
        200,
        headers=[("X-Auth-Token", TOKEN), ("X-Request-Id", "r" * 65)],
        name="nginx",
    ),
    Row(
        "request id with control characters",  # not valid HTTP: refused by the transport
        image(repository="nope"),
        400,
        headers=[("X-Auth-Token", TOKEN), ("X-Request-Id", b"abc\x7fdef")],
    ),
    Row(
        "request id with markup",
        image(repository="nope"),
        404,
        headers=[("X-Auth-Token", TOKEN), ("X-Request-Id", "<script>alert(1)</script>")],
    ),
    # --- methods -----------------------------------------------------------------------------
    *[Row(f"method {m}", GOOD, 405, NOT_ALLOWED, method=m) for m in OTHER_METHODS],
    Row("method HEAD on an image", GOOD, 200, "", method="HEAD"),
    Row("method HEAD on no image", image(repository="nope"), 404, "", method="HEAD"),
    Row("method HEAD without a token", GOOD, 401, "", method="HEAD", headers=[]),
    Row("method OPTIONS", GOOD, 204, "", method="OPTIONS", headers=[]),
    Row(
        "method OPTIONS on no route",  # found by make fuzz: 404 was undocumented for OPTIONS
        image(namespace="official%0A"),
        404,
        NO_ROUTE,
        method="OPTIONS",
        headers=[],
    ),
    Row("unknown method", GOOD, 400, raw=b"BREW /v2 HTTP/1.1\r\nHost: a\r\n\r\n"),
    # --- the list ----------------------------------------------------------------------------
    Row("list: first page", listing(), 200, first="adminer"),
    Row("list: a page after a marker", listing("?limit=1&marker=nginw"), 200, first="nginx"),
    Row(
        "list: marker of a nested name",
        listing("?marker=library%24nginw"),
        200,
        first="library/nginx",
    ),
    Row("list: limit 1000 is valid", listing("?limit=1000"), 200, first="adminer"),
    Row("list: limit 0", listing("?limit=0"), 400),
    Row("list: limit 1001", listing("?limit=1001"), 400, echo="1001"),
    Row("list: negative limit", listing("?limit=-1"), 400),
    Row("list: limit not a number", listing("?limit=ten"), 400, echo="ten"),
    Row("list: limit with a sign", listing("?limit=%2B5"), 400),
    Row("list: limit with spaces", listing("?limit=%205%20"), 400),
    Row("list: limit in exponent form", listing("?limit=1e2"), 400, echo="1e2"),
    Row("list: limit beyond 64 bits", listing("?limit=" + "9" * 30), 400, echo="9" * 30),
    Row("list: limit of 5000 digits", listing("?limit=" + "9" * 5000), 400, echo="9" * 30),
    Row("list: limit twice", listing("?limit=1&limit=2"), 400),
    Row("list: limit empty", listing("?limit="), 400),
    Row("list: marker empty", listing("?marker="), 400),
    Row("list: marker uppercase", listing("?marker=NGINX"), 400, echo="NGINX"),
    Row("list: marker SQL", listing("?marker=nginx'%20OR%20'1'='1"), 400, echo="OR '1'='1"),
    Row("list: marker NUL", listing("?marker=ngi%00nx"), 400),
    Row("list: marker with a slash", listing("?marker=library%2Fnginx"), 400),
    Row("list: marker 129 characters", listing("?marker=" + "m" * 129), 400, echo="m" * 129),
    Row("list: marker twice", listing("?marker=a&marker=b"), 400),
    Row("list: name SQL wildcard %", listing("?name=ngin%25"), 400),
    Row("list: name glob *", listing("?name=ngin*"), 400),
    Row("list: name uppercase", listing("?name=NGIN"), 400, echo="NGIN"),
    Row("list: name unicode", listing("?name=ng%C3%AF"), 400),
    Row("list: name empty", listing("?name="), 400),
    Row("list: name _ is no wildcard", listing("?name=ngin_"), 200, first=""),
    Row("list: name . is no wildcard", listing("?name=ngin."), 200, first=""),
    Row("list: unknown query parameter", listing("?offset=10"), 400, echo="offset"),
    Row("list: namespace uppercase", listing(namespace="Official"), 400, echo="Official"),
    Row("list: unknown namespace", listing(namespace="nobody"), 200, first=""),
    Row("list: trailing slash", listing("/"), 404, NO_ROUTE),
    Row("list: no token", listing(), 401, headers=[]),
    Row("list: bad limit without a token", listing("?limit=0"), 401, headers=[]),
    *[Row(f"list: method {m}", listing(), 405, NOT_ALLOWED, method=m) for m in LIST_OTHER_METHODS],
    Row("list: method HEAD", listing(), 200, "", method="HEAD"),
    Row("list: method HEAD with a bad limit", listing("?limit=0"), 400, "", method="HEAD"),
    Row("list: method HEAD without a token", listing(), 401, "", method="HEAD", headers=[]),
    Row("list: method OPTIONS", listing(), 204, "", method="OPTIONS", headers=[]),
    # --- transport ---------------------------------------------------------------------------
    Row("URL over the limit", image(repository="a" * 9000), 414),
    Row(
        "headers over the limit",
        GOOD,
        431,
        headers=[(f"X-Filler-{i}", "f" * 1000) for i in range(40)],
    ),
    Row("not HTTP at all", "", 400, raw=b"HELLO\r\n\r\n"),
    # An unfinished line is refused once it passes the limit, not when (if ever) it ends.
    Row(
        "unfinished header line over the limit",
        "",
        431,
        raw=b"GET " + GOOD.encode() + b" HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 100_000,
    ),
    Row(
        "header name without a colon over the limit",
        "",
        431,
        raw=b"GET " + GOOD.encode() + b" HTTP/1.1\r\nHost: a\r\nX-Big" + b"b" * 100_000,
    ),
    Row("unfinished request line over the limit", "", 414, raw=b"GET /" + b"a" * 100_000),
    Row(
        "HTTP/2.0 in the request line",
        "",
        505,
        raw=b"GET " + GOOD.encode() + b" HTTP/2.0\r\nX-Auth-Token: <token>\r\n\r\n",
    ),
    # --- bodies: no operation takes one ------------------------------------------------------
    Row("GET with a body", GOOD, 400, headers=[("X-Auth-Token", TOKEN), ("Content-Length", "5")]),
    Row(
        "HEAD with a body",
        GOOD,
        400,
        "",
        method="HEAD",
        headers=[("X-Auth-Token", TOKEN), ("Content-Length", "5")],
    ),
    Row(
        "GET with a chunked body",
        GOOD,
        400,
        headers=[("X-Auth-Token", TOKEN), ("Transfer-Encoding", "chunked")],
    ),
    Row(
        "token only in a chunked trailer",
        "",
        400,
        raw=b"GET " + GOOD.encode() + b" HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n0\r\nX-Auth-Token: <token>\r\nX-Request-Id: from-trailer\r\n\r\n",
    ),
    Row(
        "GET with an empty body",
        GOOD,
        200,
        headers=[("X-Auth-Token", TOKEN), ("Content-Length", "0")],
        name="nginx",
    ),
    Row(
        "HTTP/1.0",
        "",
        200,
        raw=b"GET " + GOOD.encode() + b" HTTP/1.0\r\nX-Auth-Token: <token>\r\n\r\n",
        name="nginx",
    ),
]


def test_the_table_reaches_every_error_a_client_can_cause(spec):
    # Every status the spec documents for a GET that a request alone can cause (not 200, 304 or
    # the server's own 5xx, but the 505 that refuses an HTTP version) is some row's answer.
    documented = {
        int(status)
        for item in spec["paths"].values()
        for status in item.get("get", {}).get("responses", {})
    }
    caused_by_clients = {s for s in documented if 400 <= s < 500 or s == 505}
    assert caused_by_clients <= {row.status for row in ROWS}, caused_by_clients
    assert len({row.id for row in ROWS}) == len(ROWS)


def expected_code(spec: dict, row: Row) -> str | None:
    if row.code == "" or row.status in (200, 204):
        return None
    if row.code is not None:
        return row.code
    if row.status in (414, 431):
        return resolve(spec, spec["components"]["responses"]["UriTooLong"])["content"][
            "application/json"
        ]["example"]["error_code"]
    return expected_error_code(spec, row.status)


def assert_clean_message(message: str, row: Row, token: str) -> None:
    assert len(message) <= 100, message
    for leak in ("Traceback", "SELECT", "sqlite", "psycopg", ".py", "/", token):
        assert leak not in message, (leak, message)
    if row.echo:
        assert row.echo not in message, message


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_hostile_input(spec, live_server, row):
    token = live_server.tokens.valid
    if row.raw is not None:
        raw = row.raw.replace(b"<token>", token.encode())
    else:
        headers = [
            (name, value.replace(TOKEN, token) if isinstance(value, str) else value)
            for name, value in row.headers
        ]
        raw = request_bytes(row.method, row.target.replace(TOKEN, token), headers)

    response = send_raw(live_server.base_url, raw)

    assert response.status == row.status, (response.status, response.body[:200])
    assert response.status < 500 or response.status == 505
    request_id = assert_request_id(spec, response.headers)
    # Only an image's or a page's 200 and 304 may be kept; everything else is no-store.
    target = row.target or (row.raw or b"").decode("latin-1").split("\r\n", 1)[0]
    if re.search(r"/repos/[^/?\s]", target):
        cache_control = expected_cache_control(spec, row.status, row.method)
    elif re.search(r"/repos(\?|\s|$)", target):
        cache_control = expected_cache_control(spec, row.status, row.method, LIST_PATH)
    else:
        cache_control = "no-store"
    assert response.headers["Cache-Control"] == cache_control
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for name, value in row.headers:
        if name == "X-Request-Id":
            assert request_id != (value if isinstance(value, str) else value.decode("latin-1"))
    code = expected_code(spec, row)
    if code is not None:
        body = response.json()
        assert response.headers["Content-Type"] == "application/json"
        assert body["error_code"] == code, body
        assert body["request_id"] == request_id
        assert_clean_message(body["error_msg"], row, token)
    elif row.method == "HEAD" or row.status == 204:
        assert response.body == b""
    if row.status == 405 or (row.method == "OPTIONS" and row.status == 204):
        assert response.headers["Allow"] == ALLOW
    if row.name is not None:
        assert response.json()["name"] == row.name
    if row.first is not None:
        repos = response.json()["repos"]
        assert (repos[0]["name"] if repos else "") == row.first

    # Whatever the row did, the server still serves.
    after = send_raw(live_server.base_url, request_bytes("GET", GOOD, [("X-Auth-Token", token)]))
    assert after.status == 200


def test_a_hostile_path_and_user_agent_make_one_human_access_line(tmp_path, capsys, caplog):
    # Decoded, the path holds CR LF, ESC and the line breaks Unicode adds (U+2028, NEL), then
    # text made to look like a line of its own; a header value cannot hold CR or LF (the
    # transport refuses it), but NEL and a tab reach the user agent.
    forged = "2026-01-01T00:00:00.000Z%20INFO%20forged"
    path = f"/x%0D%0A{forged}%1B[2J%E2%80%A8{forged}%C2%85{forged}"
    caplog.set_level(logging.INFO, logger="swr_official_images.access")  # access lines on
    settings = Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite", log_format="human")
    with serve(settings) as base_url:
        capsys.readouterr()
        response = send_raw(
            base_url,
            request_bytes(
                "GET", path, [("User-Agent", b"agent\x85\tforged"), ("X-Request-Id", "hostile")]
            ),
        )
        assert response.status == 404
    # Read once the server has stopped: the access line is written after the response is sent,
    # so the client can have its answer before the line is out.
    out = capsys.readouterr().out

    # Every way Python splits lines (CR, LF, NEL, U+2028, ...) finds one line for the request.
    lines = [line for line in out.splitlines() if "forged" in line]
    assert len(lines) == 1, out[-2000:]
    assert "access [hostile] GET '/x\\r\\n2026-01-01T00:00:00.000Z INFO forged\\x1b[2J" in lines[0]
    assert "\\u2028" in lines[0] and "\\x85" in lines[0]


@pytest.fixture
def impatient_server(tmp_path):
    """A server that waits only one second for a request head."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite", request_head_timeout=1.0)
    with serve(settings) as base_url:
        yield base_url


def connect(base_url: str) -> socket.socket:
    host, port = base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /openapi.json HTTP/1.1\r\nHost: a\r\n", b"GET /openap"],
    ids=["nothing", "half the headers", "half the request line"],
)
def test_a_slow_client_is_timed_out_without_blocking_others(impatient_server, sent):
    slow = connect(impatient_server)
    slow.sendall(sent)
    started = time.monotonic()

    # Meanwhile, others are served at once.
    for _ in range(3):
        response = send_raw(impatient_server, request_bytes("GET", "/openapi.json", []))
        assert response.status == 200

    # And the slow one is closed by the server once the head deadline passes.
    assert slow.recv(1024) == b""
    assert time.monotonic() - started < 9
    slow.close()


@pytest.mark.slow
def test_the_head_deadline_starts_again_after_each_response(impatient_server):
    sock = connect(impatient_server)
    time.sleep(0.6)  # most of the first head's second
    # HTTP/1.1 keeps the connection open unless told otherwise.
    sock.sendall(request_bytes("GET", "/openapi.json", []).replace(b"Connection: close\r\n", b""))
    reader = sock.makefile("rb")
    assert reader.readline().startswith(b"HTTP/1.1 200")
    headers = http.client.parse_headers(reader)
    reader.read(int(headers["Content-Length"]))
    sock.sendall(b"GET /openapi.json HTTP/1.1\r\n")  # and no more
    # The next head has its own second from the response: past the first head's deadline, the
    # connection is still open ...
    sock.settimeout(0.8)
    with pytest.raises(TimeoutError):
        sock.recv(1024)
    # ... and closed once its own deadline passes.
    sock.settimeout(10)
    assert sock.recv(1024) == b""
    reader.close()
    sock.close()
