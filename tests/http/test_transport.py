"""The HTTP transport under hostile clients, over raw sockets: request heads that never end,
connections that go quiet in any state, bodies where the API takes none, headers hidden in a
chunked trailer, forwarded addresses, pipelining and HTTP versions."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from swr_official_images.settings import Settings
from tests.conftest import serve
from tests.http.test_hostile_input import GOOD, RawResponse, request_bytes, send_raw

SPEC_PATH = "/openapi.json"


def connect(base_url: str, timeout: float = 10) -> socket.socket:
    host, port = base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_responses(sock: socket.socket, method: str = "GET") -> list[RawResponse]:
    """Every response on the connection until the server closes it (none here are chunked)."""
    responses = []
    reader = sock.makefile("rb")
    try:
        while status_line := reader.readline():
            headers = http.client.parse_headers(reader)
            length = 0 if method == "HEAD" else int(headers.get("Content-Length", 0))
            body = reader.read(length)
            responses.append(RawResponse(int(status_line.split()[1]), headers, body))
    except ConnectionResetError:
        pass  # after what it sent, which the list holds
    finally:
        reader.close()
    return responses


def read_until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes or resets the connection."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def assert_swr_error(response: RawResponse, status: int) -> dict:
    assert response.status == status, (response.status, response.body[:200])
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Connection"] == "close"
    body = response.json()
    assert body["error_code"] == "SVCSTG.SWR.4000014", body
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert response.headers["Cache-Control"] == "no-store"
    return body


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """A server without a database of interest: the transport answers before the app."""
    path = tmp_path_factory.mktemp("transport") / "db.sqlite"
    with serve(Settings(database_url=f"sqlite:///{path}", idle_timeout=30)) as base_url:
        yield base_url


# --- request heads that never end ---------------------------------------------------------------

FLOOD_LIMIT = 50 * 1024 * 1024
CHUNK = b"a" * (1024 * 1024)


@pytest.mark.parametrize(
    ("prefix", "status"),
    [
        (b"GET " + GOOD.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Big: ", 431),
        (b"GET " + GOOD.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Big", 431),
        (b"GET /", 414),
    ],
    ids=["unfinished header value", "header name without a colon", "unfinished request line"],
)
def test_an_unfinished_head_is_refused_once_past_the_limit(server, prefix, status):
    sent = 0
    answered_meanwhile = []
    with connect(server) as flood:
        flood.sendall(prefix)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < FLOOD_LIMIT:
                flood.sendall(CHUNK)
                sent += len(CHUNK)
                if not answered_meanwhile:
                    # Another client is served while the flood goes on.
                    other = send_raw(server, request_bytes("GET", SPEC_PATH, []))
                    answered_meanwhile.append(other.status)
        response = read_responses(flood)
    assert answered_meanwhile in ([], [200])
    # The server answered and closed long before the client had sent what it meant to.
    assert sent < FLOOD_LIMIT
    assert len(response) == 1
    assert_swr_error(response[0], status)
    assert send_raw(server, request_bytes("GET", SPEC_PATH, [])).status == 200


def test_a_head_just_under_the_limit_is_served(server):
    # The header block (names, values, separators, line ends) is what the limit counts.
    filler = [(f"X-Filler-{i}", "f" * 1000) for i in range(30)]
    response = send_raw(server, request_bytes("GET", SPEC_PATH, filler))
    assert response.status == 200


def test_a_head_split_across_many_packets_is_served(server):
    sock = connect(server)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one byte per segment
    raw = request_bytes("GET", SPEC_PATH, [("X-Request-Id", "split-head")])
    for i in range(len(raw)):
        sock.sendall(raw[i : i + 1])
    responses = read_responses(sock)
    sock.close()
    assert [r.status for r in responses] == [200]
    assert responses[0].headers["X-Request-Id"] == "split-head"


# --- bodies: the API takes none -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST"])
def test_a_request_announcing_a_body_is_refused_without_reading_it(server, method):
    # One byte of a thousand, then silence: the answer must not wait for the rest.
    sock = connect(server)
    head = request_bytes(method, GOOD, [("Content-Length", "1000")]).replace(
        b"Connection: close\r\n", b""
    )
    sock.sendall(head + b"x")
    responses = read_responses(sock, method)
    sock.close()
    assert len(responses) == 1
    if method == "HEAD":
        assert responses[0].status == 400
        assert responses[0].body == b""
    else:
        body = assert_swr_error(responses[0], 400)
        assert "body" in body["error_msg"]


def test_a_large_multipart_body_on_get_is_not_read(server):
    head = request_bytes(
        "GET",
        GOOD,
        [("Content-Type", "multipart/form-data; boundary=b"), ("Content-Length", "400000000")],
    )
    sent = 0
    with connect(server) as sock:
        sock.sendall(head)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            part = b"--b\r\nContent-Disposition: form-data; name=f; filename=f\r\n\r\n" + CHUNK
            while sent < FLOOD_LIMIT:
                sock.sendall(part)
                sent += len(part)
        responses = read_responses(sock)
    assert sent < FLOOD_LIMIT
    assert_swr_error(responses[0], 400)


def test_content_length_zero_is_not_a_body(server):
    response = send_raw(server, request_bytes("GET", SPEC_PATH, [("Content-Length", "0")]))
    assert response.status == 200


def test_headers_in_a_chunked_trailer_are_not_request_headers(live_server):
    token = live_server.tokens.valid
    head = request_bytes("GET", GOOD, [("Transfer-Encoding", "chunked")])
    trailer = f"0\r\nX-Auth-Token: {token}\r\nX-Request-Id: from-trailer\r\n\r\n".encode()
    responses = read_responses_from(live_server.base_url, head + trailer)
    assert len(responses) == 1
    assert responses[0].headers["X-Request-Id"] != "from-trailer"
    assert_swr_error(responses[0], 400)


def read_responses_from(base_url: str, raw: bytes) -> list[RawResponse]:
    sock = connect(base_url)
    sock.sendall(raw)
    try:
        return read_responses(sock)
    finally:
        sock.close()


# --- idle connections ---------------------------------------------------------------------------


# The idle timeout of the servers below: short, so that waiting it out costs the suite little.
IDLE_TIMEOUT = 0.2


@pytest.fixture
def impatient_server(tmp_path) -> Iterator[str]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/db.sqlite",
        idle_timeout=IDLE_TIMEOUT,
        request_head_timeout=60,
    )
    with serve(settings) as base_url:
        yield base_url


def test_a_connection_quiet_after_a_stray_byte_is_closed(impatient_server):
    # An empty line between requests starts no request: before, it cancelled the keep-alive
    # timer and nothing re-armed it.
    sock = connect(impatient_server)
    sock.sendall(request_bytes("GET", SPEC_PATH, []).replace(b"Connection: close\r\n", b""))
    first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    sock.sendall(b"\r\n")
    read_until_closed(sock)  # returns only once the server has closed the connection
    sock.close()


@pytest.mark.slow
def test_a_client_that_does_not_read_its_responses_is_disconnected(impatient_server):
    sock = socket.socket()
    # A small receive window fills at once, so the server's writes block.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    host, port = impatient_server.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    request = request_bytes("GET", SPEC_PATH, []).replace(b"Connection: close\r\n", b"")
    sock.sendall(request * 500)
    # The server is stuck writing; meanwhile its idle timer would run out several times over.
    time.sleep(IDLE_TIMEOUT * 4)
    received = read_until_closed(sock)
    sock.close()
    assert 0 < received.count(b"HTTP/1.1 200") < 500


async def slow_app(scope, receive, send) -> None:
    """Answers every request after three idle timeouts."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await asyncio.sleep(IDLE_TIMEOUT * 3)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def test_a_client_waiting_for_a_slow_response_is_not_idle(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite", idle_timeout=IDLE_TIMEOUT)
    with serve(settings, slow_app) as base_url:
        response = send_raw(base_url, request_bytes("GET", "/", []))
    assert (response.status, response.body) == (200, b"ok")


# --- forwarded addresses ------------------------------------------------------------------------


@contextlib.contextmanager
def access_log() -> Iterator[list[logging.LogRecord]]:
    """The client addresses uvicorn's access log records while the block runs."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("uvicorn.access")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def logged_client(base_url: str, forwarded_for: str) -> str:
    with access_log() as records:
        response = send_raw(
            base_url, request_bytes("GET", SPEC_PATH, [("X-Forwarded-For", forwarded_for)])
        )
        assert response.status == 200
    assert len(records) == 1
    return str(records[0].args[0])  # type: ignore[index]


def test_x_forwarded_for_is_not_trusted_by_default(server):
    client = logged_client(server, "203.0.113.9")
    assert client.startswith("127.0.0.1:"), client


def test_x_forwarded_for_is_trusted_from_a_configured_proxy(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/db.sqlite", forwarded_allow_ips=("127.0.0.1",)
    )
    with serve(settings) as base_url:
        assert logged_client(base_url, "203.0.113.9").startswith("203.0.113.9")


@pytest.mark.parametrize(
    ("forwarded_for", "logged"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8::7", "2001:db8::7"),
        ("x" * 5000, None),
        ("203.0.113.9 <script>", None),
        ("1" * 5000, None),
    ],
    ids=["IPv4", "IPv6", "5,000 letters", "an address and more", "5,000 digits"],
)
def test_a_forwarded_client_is_logged_only_as_an_address(
    tmp_path, capsys, caplog, forwarded_for, logged
):
    caplog.set_level(logging.INFO, logger="swr_official_images.access")  # access lines on
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/db.sqlite", forwarded_allow_ips=("127.0.0.1",)
    )
    with serve(settings) as base_url:
        capsys.readouterr()
        response = send_raw(
            base_url,
            request_bytes(
                "GET", SPEC_PATH, [("X-Forwarded-For", forwarded_for), ("X-Request-Id", "xff")]
            ),
        )
        assert response.status == 200
    # Read once the server has stopped: the access line is written after the response is sent,
    # so the client can have its answer before the line is out.
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if '"request_id":"xff"' in line]
    assert len(lines) == 1, out[-2000:]
    assert len(lines[0].encode()) + 1 <= 4096
    assert json.loads(lines[0])["client"] == logged


def test_x_forwarded_for_is_not_trusted_from_another_address(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/db.sqlite", forwarded_allow_ips=("10.0.0.0/8",)
    )
    with serve(settings) as base_url:
        assert logged_client(base_url, "203.0.113.9").startswith("127.0.0.1:")


# --- pipelining and versions --------------------------------------------------------------------


def test_a_bad_request_pipelined_after_a_good_one_is_answered_in_order(server):
    good = request_bytes("GET", SPEC_PATH, []).replace(b"Connection: close\r\n", b"")
    responses = read_responses_from(server, good + good + b"HELLO\r\n\r\n")
    assert [r.status for r in responses] == [200, 200, 400]
    assert_swr_error(responses[2], 400)


def test_an_oversized_head_pipelined_after_a_good_one_is_answered_in_order(server):
    good = request_bytes("GET", SPEC_PATH, []).replace(b"Connection: close\r\n", b"")
    oversized = b"GET " + SPEC_PATH.encode() + b" HTTP/1.1\r\nX-Big: " + b"b" * 40_000
    responses = read_responses_from(server, good + oversized)
    assert [r.status for r in responses] == [200, 431]


# RFC 9110 §2.5: a 1.x minor version the server does not know is read as the highest 1.x it
# speaks; any other major version that parses is refused with 505; what does not have the form
# HTTP/DIGIT.DIGIT is not HTTP.
VERSIONS = [
    (b"HTTP/1.2", 200),
    (b"HTTP/1.9", 200),
    (b"HTTP/2.0", 505),
    (b"HTTP/0.9", 505),
    (b"HTTP/3.0", 505),
    (b"HTTP/9.9", 505),
    (b"HTTP/1.10", 400),
    (b"HTTP/11.1", 400),
    (b"HTTP/1", 400),
    (b"HTTPS/1.1", 400),
]


def versioned_request(version: bytes, close: bool = True) -> bytes:
    closing = b"Connection: close\r\n" if close else b""
    return b"GET " + SPEC_PATH.encode() + b" " + version + b"\r\nHost: a\r\n" + closing + b"\r\n"


@pytest.mark.parametrize(("version", "status"), VERSIONS, ids=[v.decode() for v, _ in VERSIONS])
@pytest.mark.parametrize("delivery", ["at once", "byte by byte"])
def test_http_versions_as_rfc_9110_reads_them(server, version, status, delivery):
    raw = versioned_request(version)
    with connect(server) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A refusal may come, and the connection close, before the rest of the head is sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for piece in (
                [raw] if delivery == "at once" else [raw[i : i + 1] for i in range(len(raw))]
            ):
                sock.sendall(piece)
        responses = read_responses(sock)
    assert len(responses) == 1
    if status == 200:
        assert responses[0].status == 200, responses[0].body[:200]
    else:
        assert_swr_error(responses[0], status)


def test_an_unknown_1_x_minor_keeps_the_connection_open_as_1_1_does(server):
    responses = read_responses_from(
        server, versioned_request(b"HTTP/1.2", close=False) + versioned_request(b"HTTP/1.1")
    )
    assert [r.status for r in responses] == [200, 200]


@pytest.mark.slow
def test_concurrent_floods_do_not_stop_others_being_served(server):
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError), connect(server) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nX-Big: ")
                with contextlib.suppress(OSError):
                    while not stop.is_set():
                        sock.sendall(CHUNK)

    threads = [threading.Thread(target=flood) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(5):
            assert send_raw(server, request_bytes("GET", SPEC_PATH, [])).status == 200
    finally:
        stop.set()
        for thread in threads:
            thread.join()
