"""Log lines: one JSON object per line on stdout (or a readable line with SWR_LOG_FORMAT=human).

Application lines go through `logging` with the formatters below. Access lines, one per request,
are written by `AccessLog` straight to the stream: they run on every request, so they skip the
LogRecord and handler machinery and share only the line format.
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

import orjson

from swr_official_images.request_context import current_request_id

LOG_FORMATS = ("json", "human")


class _Clock:
    """RFC 3339 UTC time with milliseconds; the seconds part is formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            # A thread may format the same second twice: harmless, and cheaper than a lock.
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((now - second) * 1000):03d}Z"


rfc3339 = _Clock()

# A line, its newline included, stays within the 4 KiB a pipe writes atomically, so that the lines
# of several workers sharing one stdout never interleave: hostile input (a path of control
# characters, which JSON escapes to six bytes each; a huge exception message) may shorten a
# field, never lengthen the line past this.
MAX_LINE_BYTES = 4096
_CUT = "…"


def _cut_middle(value: str, keep: int) -> str:
    """`value` shortened to about `keep` characters, its start and end kept around a mark: the
    start of a message and the end of a traceback (the exception itself) say the most."""
    if keep < 2:
        return _CUT
    tail = keep // 2
    return value[: keep - tail] + _CUT + value[len(value) - tail :]


def fitted(
    fields: dict[str, Any], render: Callable[[dict[str, Any]], str], cut: tuple[str, ...]
) -> str:
    """render(fields), with the longest of the `cut` fields halved until the line and its
    newline fit in MAX_LINE_BYTES (a few rounds at most, and only for hostile lines)."""
    line = render(fields)
    # A character is at most 4 bytes of UTF-8: most lines are known to fit without encoding.
    while (
        len(line) * 4 >= MAX_LINE_BYTES and len(line.encode("utf-8", "replace")) >= MAX_LINE_BYTES
    ):
        candidates = [n for n in cut if isinstance(fields.get(n), str) and len(fields[n]) > 1]
        if not candidates:
            break
        name = max(candidates, key=lambda n: len(fields[n]))
        fields[name] = _cut_middle(fields[name], len(fields[name]) // 2)
        line = render(fields)
    return line


def _json(fields: dict[str, Any]) -> str:
    return orjson.dumps(fields).decode()


def escaped(text: str) -> str:
    """`text` as it is when every character of it is printable, else repr(text), quoted.

    A client's bytes reach the human format in paths, names and messages: a line break there
    (CR, LF, NEL, U+2028...) would split the line and let the client forge the next one, and an
    ESC or a bidirectional control would rewrite it on a terminal. The JSON format escapes such
    characters as JSON; here str.isprintable() decides, and repr() escapes, both in C: a
    hostile field costs little more than an ordinary one. The quotes tell an escaped value from
    a printable one that only looks escaped.
    """
    return text if text.isprintable() else repr(text)


def _exception_text(record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[0] is not None:
        return "".join(traceback.format_exception(*record.exc_info)).rstrip()
    if record.exc_text:
        return record.exc_text
    return None


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request id (when there is one), pid; a traceback as one
    string field, so that a line stays a line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = current_request_id.get()
        if request_id != "-":
            line["request_id"] = request_id
        if (text := _exception_text(record)) is not None:
            line["exception"] = text
        return fitted(line, _json, ("message", "exception"))


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "head": (
                f"{rfc3339(record.created)} {record.levelname:<7} {record.process} "
                f"{record.name} [{escaped(current_request_id.get())}]"
            ),
            "message": record.getMessage(),
            "exception": _exception_text(record),
        }
        return fitted(fields, self._render, ("message", "exception"))

    @staticmethod
    def _render(f: dict[str, Any]) -> str:
        line = f"{f['head']} {escaped(f['message'])}"
        if f["exception"] is None:
            return line
        # A traceback keeps its lines, each indented, so that a line that starts at the margin
        # is always a line of the log: an exception's message may hold a client's line breaks.
        return "\n".join([line, *("  " + escaped(part) for part in f["exception"].split("\n"))])


_FORMATTERS = {"json": JsonFormatter, "human": HumanFormatter}


def configure_logging(
    level: str, fmt: str = "json", stream: str = "ext://sys.stdout"
) -> dict[str, Any]:
    """Configure the process's logging; returns the dict, which `serve` hands to uvicorn so that
    each worker process configures itself the same way."""
    formatter = _FORMATTERS[fmt]
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "out": {"class": "logging.StreamHandler", "stream": stream, "formatter": "line"}
        },
        "root": {"level": level, "handlers": ["out"]},
        "loggers": {
            # uvicorn's start-up, shutdown and error lines, in our format.
            "uvicorn": {"level": level, "handlers": ["out"], "propagate": False},
            # Its access log would repeat ours, with the query string: off (serve also passes
            # access_log=False).
            "uvicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
            # Alembic narrates every start-up check at INFO; `migrate` reports what it did.
            "alembic": {"level": "WARNING"},
        },
    }
    # dictConfig replaces the root logger's handlers; handlers a host process set up before us
    # (an embedding application, a test runner's capture) keep receiving records.
    root = logging.getLogger()
    hosts = list(root.handlers)
    logging.config.dictConfig(config)
    for handler in hosts:
        root.addHandler(handler)
    return config


# Bounds that keep an ordinary access line well under MAX_LINE_BYTES; `fitted` cuts these fields
# further when escaping still makes the line too long.
MAX_LOGGED_PATH = 1024
MAX_LOGGED_USER_AGENT = 256
_CUT_FIELDS = ("path", "user_agent")


class AccessLog:
    """Writes one access line per request to stdout, in the configured format.

    `fields` are the request's fields (see `swr_official_images.ops.access`); the level is INFO, so
    SWR_LOG_LEVEL=WARNING switches access lines off.

    On an event loop, the lines of one turn of the loop leave together at its end, in writes of
    at most MAX_LINE_BYTES (atomic on a pipe that several workers share): a system call per turn
    instead of one per request. Off a loop, a line is written at once. `flush` writes what is
    held; the app's lifespan calls it when the server stops.
    """

    def __init__(self, fmt: str = "json", stream: IO[str] | None = None) -> None:
        self._human = fmt == "human"
        self._stream = stream
        self._pid = os.getpid()
        self._logger = logging.getLogger("swr_official_images.access")
        self._held: list[str] = []
        self._held_bytes = 0
        self._flush_scheduled = False

    def enabled(self) -> bool:
        return self._logger.isEnabledFor(logging.INFO)

    def write(self, fields: dict[str, Any]) -> None:
        fields["time"] = rfc3339(time.time())
        if self._human:
            line = fitted(fields, self._human_line, _CUT_FIELDS)
        else:
            fields["level"] = "INFO"
            fields["logger"] = "access"
            fields["pid"] = self._pid
            line = fitted(fields, _json, _CUT_FIELDS)
        line += "\n"
        # `fitted` keeps a line and its newline within MAX_LINE_BYTES; an ASCII line (most are)
        # is as many bytes as characters.
        size = len(line) if line.isascii() else len(line.encode("utf-8", "replace"))
        if self._held_bytes + size > MAX_LINE_BYTES:
            self.flush()
        self._held.append(line)
        self._held_bytes += size
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self._flush_at_turn_end)

    def _flush_at_turn_end(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def flush(self) -> None:
        """Write the lines held, in one write."""
        if not self._held:
            return
        text = "".join(self._held)
        self._held.clear()
        self._held_bytes = 0
        # sys.stdout is looked up each time: a test or a daemon may replace it.
        stream = self._stream or sys.stdout
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            # A closed or broken stdout must not fail the requests it describes.
            pass

    def _human_line(self, f: dict[str, Any]) -> str:
        # Every text field is escaped (see `escaped`), checked or not where it came from: a
        # name stored by an older release, or a check loosened later, must not split the line.
        extra = f" token={escaped(f['token_name'])}" if "token_name" in f else ""
        if "key_name" in f:
            extra += f" key={escaped(f['key_name'])}"
        if "auth_failure" in f:
            extra += f" auth_failure={escaped(f['auth_failure'])}"
        if "refusal" in f:
            extra += f" refusal={escaped(f['refusal'])}"
        # A request the transport refused may have no method or path that was read; the user
        # agent is quoted by repr(), which escapes it.
        return (
            f"{f['time']} INFO    {self._pid} access [{escaped(f['request_id'])}] "
            f"{escaped(f['method'] or '-')} {escaped(f['path'] or '-')} {f['status']} "
            f"{f['duration_ms']}ms {f['bytes']}B {escaped(str(f['client']))} "
            f"{f['user_agent']!r}{extra}"
        )
