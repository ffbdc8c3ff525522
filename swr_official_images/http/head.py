"""A request head's raw bytes, counted as they arrive, before the parser sees them.

The transport (swr_official_images.http.transport) feeds the parser the pieces `HeadCounter`
cuts: up to the end of a head, or of its request line, so that a limit is checked before a
byte past it is parsed, however the bytes are split across reads. Nothing here does I/O or
reads a clock: the transport passes the time in.
"""

from __future__ import annotations

import re

# A request line is its target plus the method, two spaces, the version and CRLF; the longest
# method httptools knows ("VERSION-CONTROL") makes that 28 bytes.
REQUEST_LINE_OVERHEAD = 32
HEAD_END = b"\r\n\r\n"

# The version at the end of a complete request line (RFC 9112 §2.3: HTTP-version =
# "HTTP/" DIGIT "." DIGIT), and a method the access line may name.
_LINE_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])\r?\n\Z")
_LINE_METHOD = re.compile(rb"[\r\n]*([A-Z]{1,20}) ")
# The ends of a request line the parser reads as it is (`spoken_request_line` returns it).
_SPOKEN_LINE_ENDS = (b" HTTP/1.1\r\n", b" HTTP/1.0\r\n")


class RequestLineTooLong(Exception):
    """The request line passed the target limit plus `REQUEST_LINE_OVERHEAD`."""


class HeaderBlockTooLarge(Exception):
    """The header lines, up to and including the blank line, passed the header limit."""


class HeadCounter:
    """The head in progress on one connection, as counted from the raw bytes."""

    def __init__(self, max_url_bytes: int, max_header_bytes: int) -> None:
        self.max_line_bytes = max_url_bytes + REQUEST_LINE_OVERHEAD
        self.max_header_bytes = max_header_bytes
        # Whether a head is in progress (empty lines before a request line start none), when
        # it started, and whether its method is HEAD (read from its first bytes).
        self.started = False
        self.started_at = 0.0
        self.is_head_method = False
        # Whether the request line of the head in progress is complete.
        self.line_done = False
        self.line_bytes = 0
        self.header_bytes = 0
        self._tail = b""  # the head's last bytes, to find a blank line split across reads

    def piece(self, data: bytes, position: int, now: float) -> int:
        """How many bytes of `data` from `position` to feed next: up to the end of the request
        line or of the head in progress, or all of them when neither ends in them. Counts them;
        raises `RequestLineTooLong` or `HeaderBlockTooLarge` when the head would pass a limit.
        """
        start = position
        if not self.started:
            # httptools skips empty lines before a request line without keeping them.
            while start < len(data) and data[start] in b"\r\n":
                start += 1
            if start == len(data):
                return start - position
            self.started = True
            self.started_at = now
            self.is_head_method = data.startswith(b"HEAD ", start)
        # Look no further than the limits allow: the bytes past them are refused anyway.
        budget = self.max_line_bytes - self.line_bytes if not self.line_done else 0
        budget += self.max_header_bytes - self.header_bytes
        stop = min(len(data), start + budget + len(HEAD_END))
        end = (self._tail + data[start : start + len(HEAD_END) - 1]).find(HEAD_END)
        if end >= 0:
            end = start + end + len(HEAD_END) - len(self._tail)
        else:
            found = data.find(HEAD_END, start, stop)
            end = found + len(HEAD_END) if found >= 0 else -1
        piece_end = stop if end < 0 else end
        if self.line_done:
            self.header_bytes += piece_end - start
        else:
            line_end = data.find(b"\n", start, piece_end)
            if line_end < 0:
                self.line_bytes += piece_end - start
            else:
                self.line_done = True
                self.line_bytes += line_end + 1 - start
                # The request line is a piece of its own; the head cannot end in it, since a
                # blank line must follow it.
                piece_end, end = line_end + 1, -1
        if self.line_bytes > self.max_line_bytes:
            raise RequestLineTooLong
        if self.header_bytes > self.max_header_bytes:
            raise HeaderBlockTooLarge
        if end >= 0:
            self._start_next_head()
        else:
            self._tail = (self._tail + data[max(start, piece_end - 3) : piece_end])[-3:]
        return piece_end - position

    def whole(self, data: bytes, now: float) -> bool:
        """Whether `data`, read while no head is in progress, is exactly one complete head within
        the limits whose request line the parser reads as it is: a client's usual read. If so,
        it is counted as `piece` would have counted it, and is fed to the parser in one piece
        instead of `piece`'s two (its request line, then its header block)."""
        if self.started:
            return False
        head_end = data.find(HEAD_END)
        if head_end < 0 or head_end + len(HEAD_END) != len(data):
            return False
        # The head ends with a blank line, so a line ends before it.
        line_end = data.find(b"\n") + 1
        if (
            data[line_end - len(_SPOKEN_LINE_ENDS[0]) : line_end] not in _SPOKEN_LINE_ENDS
            or line_end > self.max_line_bytes
            or len(data) - line_end > self.max_header_bytes
        ):
            return False
        # A spoken request line starts with its method: no empty line comes before it.
        self.started_at = now
        self.is_head_method = data.startswith(b"HEAD ")
        return True

    def _start_next_head(self) -> None:
        self.started = self.line_done = False
        self.line_bytes = self.header_bytes = 0
        self._tail = b""


def spoken_request_line(line: bytes) -> bytes | None:
    """A complete request line as the parser should read it, or None for a version that is not
    spoken (505). A line without a version of the form HTTP/DIGIT.DIGIT is left to the parser,
    which refuses it as not HTTP."""
    version = _LINE_VERSION.search(line)
    if version is None:
        return line
    major, minor = version.groups()
    if major != b"1":
        return None
    if minor in (b"0", b"1"):
        return line
    # RFC 9110 §2.5: a recipient reads an unknown minor version as the highest it speaks.
    return line[: version.start(2)] + b"1" + line[version.end(2) :]


def request_line_method(line: bytes) -> str | None:
    """The method a request line names, when it looks like one."""
    method = _LINE_METHOD.match(line)
    return method.group(1).decode("ascii") if method else None
