"""ResponseWriter: each response leaves in one write, its head joined to its body, whatever
follows it on the connection."""

from __future__ import annotations

import pytest

from swr_official_images.http.transport import JOINED_BODY_MAX_BYTES, ResponseWriter

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n"


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        assert not self.closing, "written after close"
        self.writes.append(data)

    def close(self) -> None:
        self.writes.append(b"<close>")
        self.closing = True

    def abort(self) -> None:
        self.writes.append(b"<abort>")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


@pytest.fixture
def transport() -> _Transport:
    return _Transport()


@pytest.fixture
def writer(transport) -> ResponseWriter:
    return ResponseWriter(transport)  # type: ignore[arg-type]


def test_a_head_leaves_with_its_body_in_one_write(transport, writer):
    writer.write(HEAD)
    assert transport.writes == []
    writer.write(b"body")
    writer.response_complete()
    assert transport.writes == [HEAD + b"body"]


def test_each_response_on_a_connection_has_its_head_held(transport, writer):
    for body in (b"one!", b"two!"):
        writer.write(HEAD)
        writer.write(body)
        writer.response_complete()
    assert transport.writes == [HEAD + b"one!", HEAD + b"two!"]


def test_a_streamed_body_after_the_first_write_goes_straight_out(transport, writer):
    writer.write(HEAD)
    writer.write(b"first")
    writer.write(b"second")
    assert transport.writes == [HEAD + b"first", b"second"]


def test_a_head_without_a_body_leaves_when_its_response_completes(transport, writer):
    not_modified = b"HTTP/1.1 304 Not Modified\r\n\r\n"
    writer.write(not_modified)
    assert transport.writes == []
    writer.response_complete()
    assert transport.writes == [not_modified]
    writer.write(HEAD)  # the next response's head is held again
    assert transport.writes == [not_modified]


def test_an_informational_response_is_not_held(transport, writer):
    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    writer.write(HEAD)
    writer.write(b"body")
    assert transport.writes[1:] == [HEAD + b"body"]


def test_a_held_head_leaves_before_the_connection_closes(transport, writer):
    writer.write(HEAD + b"body")  # a whole response in one write (the transport's refusals)
    writer.close()
    assert transport.writes == [HEAD + b"body", b"<close>"]


def test_an_abort_drops_what_is_held(transport, writer):
    writer.write(HEAD)
    writer.abort()
    assert transport.writes == [b"<abort>"]


def test_nothing_is_written_to_a_closing_transport(transport, writer):
    writer.write(HEAD)
    transport.closing = True
    writer.response_complete()
    assert transport.writes == []


def test_a_large_body_is_not_copied_to_join_its_head(transport, writer):
    body = b"x" * (JOINED_BODY_MAX_BYTES + 1)
    writer.write(HEAD)
    writer.write(body)
    assert transport.writes == [HEAD, body]
    assert transport.writes[1] is body


def test_what_is_held_counts_as_buffered(transport, writer):
    writer.write(HEAD)
    assert writer.get_write_buffer_size() == 7 + len(HEAD)


def test_the_rest_is_the_transports_own(writer):
    assert writer.get_extra_info("peername") == "extra peername"
