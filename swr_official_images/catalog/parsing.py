"""Parsing catalog files into raw records, a bounded piece at a time.

Files are a JSON array, JSON Lines (one record per line; what `export` writes), or Docker Hub's
repository format (its repository objects, alone, as an array or lines, or as a page of
`results`). A file is read a bounded piece at a time: a line of JSON Lines, or a record of an
array, may be at most `MAX_RECORD_BYTES`.
"""

from __future__ import annotations

import codecs
import enum
import io
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from swr_official_images.catalog.errors import CatalogError
from swr_official_images.catalog.validation import from_docker_hub

# The longest line of JSON Lines, and the largest record of a JSON array, in bytes: far above a
# real record (Docker Hub caps a full description at 25,000 characters), far below trouble.
MAX_RECORD_BYTES = 1 << 20
# A file that is one JSON object (one record, or a page of Docker Hub's listing) may be larger.
MAX_DOCUMENT_BYTES = 64 << 20
# Bytes read at a time from a JSON document.
_CHUNK_BYTES = 1 << 16

_BOM = codecs.BOM_UTF8
_JSON_SPACE = b" \t\r\n"
_SPACE = re.compile(r"[ \t\r\n]*")


class CatalogFormat(enum.StrEnum):
    AUTO = "auto"
    JSON = "json"  # one JSON document: an array of records, one record, or a listing page
    JSONL = "jsonl"  # JSON Lines: one record per line
    DOCKER_HUB = "dockerhub"  # Docker Hub repository objects


class _RepeatedKey(dict[str, Any]):
    """A JSON object in which a key appears more than once: the record is refused, rather than
    letting the last value silently win."""

    key: str


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        repeated = _RepeatedKey(result)
        repeated.key = _first_repeated(k for k, _ in pairs)
        return repeated
    return result


def _first_repeated(keys: Iterable[str]) -> str:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    # Unreachable: called only when the pairs hold fewer distinct keys than pairs.
    raise ValueError("no key repeats")


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


# The standard library's parser: it reports repeated keys (orjson keeps the last silently),
# refuses NaN and Infinity, and keeps integers exact, so that 10**30 is refused as too large
# rather than read as a float.
_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_not_json)


def _decode(text: str, where: str) -> Any:
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{where}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise CatalogError(f"{where}: not valid here: nested too deeply") from None
    except ValueError:  # NaN, Infinity, or an integer of thousands of digits
        raise CatalogError(f"{where}: not valid JSON") from None


def _json_lines(stream: BinaryIO, after: int = 0) -> Iterator[tuple[str, Any]]:
    """One value per line, from line `after + 1`. Only "\\n" ends a line: export writes U+2028,
    U+0085 and the like raw inside strings, where JSON allows them."""
    number = after
    while line := _read_line(stream, number + 1):
        number += 1
        yield from _json_line(number, line)


def _read_line(stream: BinaryIO, number: int) -> bytes:
    line = stream.readline(MAX_RECORD_BYTES + 2)
    if len(line.removesuffix(b"\n")) > MAX_RECORD_BYTES:
        raise CatalogError(f"line {number}: longer than {MAX_RECORD_BYTES} bytes")
    return line


def _json_line(number: int, line: bytes) -> Iterator[tuple[str, Any]]:
    if not line.strip(_JSON_SPACE):
        return
    where = f"line {number}"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise CatalogError(f"{where}: not UTF-8 text") from None
    value = _decode(text, where)
    if _is_listing_page(value):
        # A page of Docker Hub's listing, as its API returns it: on one line.
        for index, raw in enumerate(value["results"]):
            yield f"{where}, record {index}", raw
    else:
        yield where, value


class _Buffer:
    """A JSON document's text, decoded a chunk at a time and parsed a value at a time, so that
    no more than one record (and one chunk) is held."""

    def __init__(self, stream: BinaryIO, source: str, head: bytes = b"") -> None:
        self._stream = stream
        self._source = source
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._pending = head
        self.text = ""
        self.pos = 0
        self.eof = False

    def fill(self) -> bool:
        """Append the next chunk (dropping what has been parsed); False at the end."""
        data, self._pending = self._pending or self._stream.read(_CHUNK_BYTES), b""
        try:
            chunk = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise CatalogError(f"{self._source}: not UTF-8 text") from None
        if not data:
            self.eof = True
            return False
        self.text = self.text[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not JSON whitespace ("" at the end), left unread."""
        while True:
            space = _SPACE.match(self.text, self.pos)
            assert space is not None  # `*`: it matches the empty string too
            self.pos = space.end()
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.fill():
                return ""

    def value(self, where: str, limit: int) -> Any:
        """The JSON value at the current position. A value that may continue in the next chunk
        (a number at the very end, an incomplete object) is parsed again once it is there."""
        while True:
            start = self.pos
            error: str | None = None
            try:
                value, end = _DECODER.raw_decode(self.text, start)
                if end < len(self.text) or self.eof:
                    if end - start > limit:
                        raise CatalogError(f"{where}: larger than {limit} bytes")
                    self.pos = end
                    return value
            except json.JSONDecodeError as exc:
                error = exc.msg
            except RecursionError:
                raise CatalogError(f"{where}: not valid here: nested too deeply") from None
            except ValueError:
                error = "a number or constant JSON does not have"
            if len(self.text) - start > limit:
                raise CatalogError(f"{where}: larger than {limit} bytes")
            if not self.fill() and error is not None:
                raise CatalogError(f"{where}: not valid JSON ({error})")


def _array_records(buffer: _Buffer, source: str) -> Iterator[tuple[str, Any]]:
    if buffer.peek() != "[":
        raise CatalogError(f"{source}: expected a JSON array of image records")
    buffer.pos += 1
    index = 0
    if buffer.peek() == "]":
        buffer.pos += 1
    else:
        while True:
            where = f"record {index}"
            buffer.peek()
            yield where, buffer.value(where, MAX_RECORD_BYTES)
            follows = buffer.peek()
            buffer.pos += 1
            if follows == "]":
                break
            if follows != ",":
                raise CatalogError(f"{where}: not valid JSON (expected ',' or ']' after it)")
            index += 1
    if buffer.peek():
        raise CatalogError(f"{source}: not valid JSON (text after the array)")


def _document_records(data: Any, source: str) -> Iterator[tuple[str, Any]]:
    if _is_listing_page(data):
        data = data["results"]  # a page of Docker Hub's repository listing
    elif isinstance(data, dict):
        yield "record 0", data  # one record (one Docker Hub repository)
        return
    if not isinstance(data, list):
        raise CatalogError(f"{source}: expected a JSON array of image records")
    for index, raw in enumerate(data):
        yield f"record {index}", raw


def _one_document(buffer: _Buffer, source: str) -> Iterator[tuple[str, Any]]:
    if buffer.peek() == "[":
        yield from _array_records(buffer, source)
        return
    document = buffer.value("record 0", MAX_DOCUMENT_BYTES)
    if buffer.peek():
        raise CatalogError(f"{source}: not valid JSON (text after the document)")
    yield from _document_records(document, source)


def parse_catalog(
    stream: io.BufferedReader,
    source: str,
    catalog_format: CatalogFormat = CatalogFormat.AUTO,
    namespace: str | None = None,
) -> Iterator[tuple[str, Any]]:
    """(where, raw record) pairs, read as they come: `where` names the record in errors (its
    index or line). `namespace` files every record under it.

    JSON and JSON Lines are told apart by content unless the format says which: an array is
    JSON, and so is an object that does not end on its first line (pretty-printed); the rest
    is JSON Lines, of which a file with one object on one line is the simplest case. Docker
    Hub's objects are recognised by their `repository_type`, which catalog records never have.
    A UTF-8 byte order mark is skipped."""
    if stream.peek(len(_BOM))[: len(_BOM)] == _BOM:
        stream.read(len(_BOM))
    pairs = _parse(stream, source, catalog_format)
    docker_hub = catalog_format is CatalogFormat.DOCKER_HUB
    for where, raw in pairs:
        if isinstance(raw, _RepeatedKey):
            raise CatalogError(f"{where}: field {raw.key!r} appears more than once")
        if docker_hub or (isinstance(raw, dict) and "repository_type" in raw):
            raw = from_docker_hub(raw, where, namespace)
        elif namespace is not None and isinstance(raw, dict):
            raw = {**raw, "namespace": namespace}
        yield where, raw


def _parse(
    stream: io.BufferedReader, source: str, catalog_format: CatalogFormat
) -> Iterator[tuple[str, Any]]:
    if catalog_format is CatalogFormat.JSONL:
        yield from _json_lines(stream)
        return
    if catalog_format is CatalogFormat.JSON:
        yield from _one_document(_Buffer(stream, source), source)
        return
    first = stream.peek(_CHUNK_BYTES).lstrip(_JSON_SPACE)[:1]
    if first == b"[":
        yield from _array_records(_Buffer(stream, source), source)
        return
    line = _read_line(stream, 1)
    if first == b"{":
        try:
            _DECODER.decode(line.decode("utf-8"))
        except (ValueError, RecursionError):
            # Not a whole object on its first line: one pretty-printed document.
            yield from _one_document(_Buffer(stream, source, head=line), source)
            return
    yield from _json_line(1, line)
    yield from _json_lines(stream, after=1)


def _is_listing_page(raw: Any) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("results"), list)
