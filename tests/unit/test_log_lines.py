"""Human log lines (SWR_LOG_FORMAT=human): whatever a client sent, a line stays one line, and
nothing it sent can start a line that looks like the service's own."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys

import pytest

from swr_official_images.ops.logging import MAX_LINE_BYTES, AccessLog, HumanFormatter

# Every character Python's str.splitlines() breaks a line on, ESC (a terminal's escapes), DEL
# and a right-to-left override, followed by the start of a forged line.
BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x1b\x7f\u202e"
SHOWN = r"\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x1b\x7f\u202e"
FORGED = "2026-01-01T00:00:00.000Z INFO    1 access [x] GET /forged 200"
HOSTILE = BREAKS + FORGED

# The access line's fields a client can put text into, directly or through a stored name.
CLIENT_FIELDS = ("request_id", "method", "path", "user_agent", "token_name", "key_name")


def access_fields(**hostile: str) -> dict[str, object]:
    fields: dict[str, object] = {
        "request_id": "r",
        "method": "GET",
        "path": "/p",
        "route": None,
        "operation": "none",
        "status": 404,
        "duration_ms": 1.0,
        "bytes": 10,
        "client": "127.0.0.1",
        "user_agent": "curl",
    }
    fields.update(hostile)
    return fields


@pytest.mark.parametrize("name", CLIENT_FIELDS)
def test_a_human_access_line_escapes_control_characters_in_what_the_client_sent(name):
    stream = io.StringIO()
    AccessLog("human", stream).write(access_fields(**{name: HOSTILE}))

    out = stream.getvalue()
    assert out.endswith("\n") and len(out.splitlines()) == 1, repr(out)
    assert "'" + SHOWN + FORGED + "'" in out


def test_an_escaped_value_is_quoted_so_that_it_differs_from_one_that_looks_escaped():
    stream = io.StringIO()
    AccessLog("human", stream).write(access_fields(path="/a\\nb\nc"))
    AccessLog("human", stream).write(access_fields(path="/a\\nb\\nc"))
    escaped, printable = stream.getvalue().splitlines()
    assert " '/a\\\\nb\\nc' 404 " in escaped
    assert " /a\\nb\\nc 404 " in printable


def test_a_human_application_line_escapes_its_message_and_indents_its_traceback():
    try:
        raise ValueError("bad input " + HOSTILE)
    except ValueError:
        record = logging.LogRecord(
            "server", logging.ERROR, __file__, 1, "refused %s", (HOSTILE,), exc_info=sys.exc_info()
        )
    text = HumanFormatter().format(record)

    first, *traceback = text.split("\n")
    assert first.endswith(" '" + "refused " + SHOWN + FORGED + "'")
    # The traceback keeps its lines, each indented under the line it belongs to: a line that
    # starts at the margin is always the service's own.
    assert traceback and all(line.startswith("  ") for line in traceback), text
    assert len(text.splitlines()) == 1 + len(traceback)
    assert any("ValueError: bad input " in line for line in traceback)


class _Writes(io.StringIO):
    """A stream that records each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def test_access_lines_of_one_turn_of_the_loop_leave_together_at_its_end():
    stream = _Writes()
    log = AccessLog("json", stream)

    async def turn() -> list[str]:
        for n in range(3):
            log.write(access_fields(path=f"/{n}"))
        held = list(stream.writes)
        await asyncio.sleep(0)  # the end of the turn
        return held

    assert asyncio.run(turn()) == []
    assert len(stream.writes) == 1
    lines = stream.writes[0].splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["/0", "/1", "/2"]


def test_a_write_of_held_lines_stays_within_what_a_pipe_writes_at_once():
    stream = _Writes()
    log = AccessLog("json", stream)

    async def turn() -> None:
        for n in range(40):
            log.write(access_fields(path=f"/{n}", user_agent="é" * 200))
        await asyncio.sleep(0)

    asyncio.run(turn())
    assert len(stream.writes) > 1
    assert all(len(text.encode()) <= MAX_LINE_BYTES for text in stream.writes)
    paths = [json.loads(line)["path"] for line in "".join(stream.writes).splitlines()]
    assert paths == [f"/{n}" for n in range(40)]


def test_off_a_loop_or_when_flushed_a_line_is_written_at_once():
    stream = _Writes()
    log = AccessLog("human", stream)
    log.write(access_fields(path="/now"))
    assert len(stream.writes) == 1 and "/now" in stream.writes[0]

    async def flushed() -> int:
        log.write(access_fields(path="/flushed"))
        log.flush()
        return len(stream.writes)

    assert asyncio.run(flushed()) == 2
    assert "/flushed" in stream.writes[1]
