"""HeadCounter: the pieces a request head's raw bytes are cut into, and its limits, however the
bytes are split across reads."""

from __future__ import annotations

import pytest

from swr_official_images.http.head import (
    REQUEST_LINE_OVERHEAD,
    HeadCounter,
    HeaderBlockTooLarge,
    RequestLineTooLong,
    request_line_method,
    spoken_request_line,
)

LINE = b"GET /v2/manifests/library/nginx HTTP/1.1\r\n"
HEADERS = b"Host: example.com\r\nX-Auth-Token: swr_abc\r\n\r\n"
HEAD = LINE + HEADERS


def counter(line: int = len(LINE), headers: int = len(HEADERS)) -> HeadCounter:
    """A counter whose limits are exactly `line` bytes of request line and `headers` bytes of
    header block."""
    return HeadCounter(max_url_bytes=line - REQUEST_LINE_OVERHEAD, max_header_bytes=headers)


def pieces(head_counter: HeadCounter, *reads: bytes, now: float = 0.0) -> list[bytes]:
    """The pieces the counter cuts `reads` into, as the transport feeds them to the parser."""
    cut = []
    for data in reads:
        position = 0
        while position < len(data):
            size = head_counter.piece(data, position, now)
            assert size > 0, (data, position)
            cut.append(data[position : position + size])
            position += size
    return cut


def test_a_head_in_one_read_is_cut_after_its_request_line_and_at_its_end():
    head = counter()
    assert pieces(head, HEAD) == [LINE, HEADERS]
    # The head is over: the next bytes start a new one.
    assert not head.started
    assert (head.line_bytes, head.header_bytes) == (0, 0)


def test_a_head_sent_byte_by_byte_is_cut_at_the_same_places():
    head = counter()
    cut = pieces(head, *(HEAD[i : i + 1] for i in range(len(HEAD))))
    assert b"".join(cut) == HEAD
    assert len(cut) == len(HEAD)
    assert not head.started


@pytest.mark.parametrize("split", [len(HEAD) - 1, len(HEAD) - 2, len(HEAD) - 3])
def test_a_blank_line_split_across_reads_ends_the_head(split):
    head = counter()
    assert b"".join(pieces(head, HEAD[:split])) == HEAD[:split]
    assert head.started
    pieces(head, HEAD[split:])
    assert not head.started
    # The next head is counted from zero.
    assert pieces(head, HEAD) == [LINE, HEADERS]


def test_pipelined_heads_in_one_read_are_cut_apart():
    head = counter()
    assert pieces(head, HEAD + HEAD) == [LINE, HEADERS, LINE, HEADERS]


def test_empty_lines_before_a_request_line_start_no_head():
    head = counter()
    assert pieces(head, b"\r\n\r\n") == [b"\r\n\r\n"]
    assert not head.started
    assert pieces(head, b"\r\n" + HEAD) == [b"\r\n" + LINE, HEADERS]


def test_a_head_records_when_it_started_and_whether_its_method_is_head():
    head = counter()
    pieces(head, LINE, now=5.0)
    pieces(head, HEADERS, now=9.0)
    assert head.started_at == 5.0
    assert not head.is_head_method
    pieces(head, b"HEAD /v2/ HTTP/1.1\r\n", now=12.0)
    assert (head.started_at, head.is_head_method) == (12.0, True)


def test_a_request_line_at_the_limit_passes_and_one_byte_over_is_refused():
    pieces(counter(line=len(LINE)), HEAD)
    with pytest.raises(RequestLineTooLong):
        pieces(counter(line=len(LINE) - 1), HEAD)


def test_a_request_line_without_an_end_is_refused_once_past_the_limit():
    head = counter(line=64)
    pieces(head, b"GET /" + b"a" * 59)  # at the limit
    with pytest.raises(RequestLineTooLong):
        pieces(head, b"a")


def test_a_header_block_at_the_limit_passes_and_one_byte_over_is_refused():
    # The block counts every header line and the blank line that ends it.
    pieces(counter(headers=len(HEADERS)), HEAD)
    with pytest.raises(HeaderBlockTooLarge):
        pieces(counter(headers=len(HEADERS) - 1), HEAD)


def test_a_header_block_without_an_end_is_refused_without_reading_far_past_the_limit():
    head = counter(headers=100)
    endless = LINE + b"X: " + b"y" * 1_000_000
    with pytest.raises(HeaderBlockTooLarge):
        pieces(head, endless)
    # Counted up to the limit and the few bytes that could end the head there, no further.
    assert head.header_bytes <= 100 + len(b"\r\n\r\n")


def test_split_reads_are_held_to_the_same_limits():
    head = counter(headers=len(HEADERS) - 1)
    with pytest.raises(HeaderBlockTooLarge):
        pieces(head, *(HEAD[i : i + 7] for i in range(0, len(HEAD), 7)))


@pytest.mark.parametrize(
    ("line", "spoken"),
    [
        (b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\n"),
        (b"GET / HTTP/1.0\r\n", b"GET / HTTP/1.0\r\n"),
        # RFC 9110 §2.5: an unknown minor version is read as the highest spoken.
        (b"GET / HTTP/1.2\r\n", b"GET / HTTP/1.1\r\n"),
        (b"GET / HTTP/1.9\n", b"GET / HTTP/1.1\n"),
        (b"GET / HTTP/2.0\r\n", None),
        (b"GET / HTTP/3.0\r\n", None),
        # Not of the form HTTP/DIGIT.DIGIT: the parser refuses it as not HTTP.
        (b"GET / HTTP/1.10\r\n", b"GET / HTTP/1.10\r\n"),
        (b"GET / FTP/1.1\r\n", b"GET / FTP/1.1\r\n"),
    ],
)
def test_a_request_line_is_given_a_version_the_parser_speaks(line, spoken):
    assert spoken_request_line(line) == spoken


@pytest.mark.parametrize(
    ("line", "method"),
    [
        (b"GET / HTTP/2.0\r\n", "GET"),
        (b"\r\nDELETE /x HTTP/3.0\r\n", "DELETE"),
        (b"get / HTTP/2.0\r\n", None),
        (b"\x00 / HTTP/2.0\r\n", None),
    ],
)
def test_a_request_line_names_its_method_when_it_looks_like_one(line, method):
    assert request_line_method(line) == method


def test_a_whole_head_in_one_read_is_counted_as_its_pieces_would_be():
    whole, cut = counter(), counter()
    assert whole.whole(HEAD, now=3.0)
    assert pieces(cut, HEAD, now=3.0) == [LINE, HEADERS]
    assert vars(whole) == vars(cut)
    head_line = b"HEAD /v2/ HTTP/1.0\r\n"
    assert whole.whole(head_line + HEADERS, now=4.0)
    pieces(cut, head_line + HEADERS, now=4.0)
    assert vars(whole) == vars(cut)
    assert (whole.started_at, whole.is_head_method) == (4.0, True)


@pytest.mark.parametrize(
    ("data", "line", "headers"),
    [
        (HEAD + b"GET", len(LINE), len(HEADERS)),  # a pipelined request follows
        (HEAD[:-1], len(LINE), len(HEADERS)),  # not complete
        (HEAD[:3], len(LINE), len(HEADERS)),  # as short as the blank line's rest
        (b"\r\n" + HEAD, len(LINE) + 2, len(HEADERS)),  # an empty line first
        (LINE.replace(b"1.1", b"1.2") + HEADERS, len(LINE), len(HEADERS)),  # read as 1.1
        (LINE.replace(b"1.1", b"2.0") + HEADERS, len(LINE), len(HEADERS)),  # 505
        (LINE.replace(b"\r\n", b"\n") + HEADERS, len(LINE), len(HEADERS)),
        (HEAD, len(LINE) - 1, len(HEADERS)),  # past the request line's limit
        (HEAD, len(LINE), len(HEADERS) - 1),  # past the header block's limit
    ],
    ids=[
        "pipelined", "unfinished", "three bytes", "empty line first", "HTTP/1.2", "HTTP/2.0",
        "bare LF", "line over the limit", "headers over the limit",
    ],
)  # fmt: skip
def test_anything_else_is_left_to_the_pieces(data, line, headers):
    head = counter(line=line, headers=headers)
    before = dict(vars(head))
    assert not head.whole(data, now=1.0)
    assert vars(head) == before


def test_a_read_while_a_head_is_in_progress_is_never_whole():
    head = counter()
    pieces(head, b"GET /")
    assert not head.whole(HEAD, now=1.0)
