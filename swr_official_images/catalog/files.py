"""Reading, validating and writing catalog files, before anything touches the database.

The rules come from openapi.yaml: a record must be an `OfficialImage` as the API would serve it
(its `id` optional: the store assigns one when it is missing), and its namespace and name must
pass the path parameter rules, so that every imported image can be looked up. What no store can
hold (NUL, unpaired surrogates) is refused here too, so both stores accept the same records.

Files are a JSON array, JSON Lines (one record per line; what `export` writes), or Docker Hub's
repository format (its repository objects, alone, as an array or lines, or as a page of
`results`), whose ISO 8601 times are converted to the API's form. A file is read a bounded piece
at a time: a line of JSON Lines, or a record of an array, may be at most `MAX_RECORD_BYTES`.
"""

from __future__ import annotations

import codecs
import contextlib
import enum
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import fastjsonschema

from swr_official_images.domain import KEPT_WHEN_LEFT_OUT, Image, ImageRecord, api_time
from swr_official_images.patterns import ecma_regex
from swr_official_images.spec import component_schema, parameter_schema

# The longest line of JSON Lines, and the largest record of a JSON array, in bytes: far above a
# real record (Docker Hub caps a full description at 25,000 characters), far below trouble.
MAX_RECORD_BYTES = 1 << 20
# A file that is one JSON object (one record, or a page of Docker Hub's listing) may be larger.
MAX_DOCUMENT_BYTES = 64 << 20

# Only the first few dozen characters of a bad value appear in an error.
_MAX_ECHO = 40

# Bytes read at a time from a JSON document.
_CHUNK_BYTES = 1 << 16

_BOM = codecs.BOM_UTF8
_JSON_SPACE = b" \t\r\n"
_SPACE = re.compile(r"[ \t\r\n]*")

# Fields of Docker Hub's repository objects that the catalog keeps; the rest are ignored.
# (`user` is not among them: it is always the namespace's own name on Docker Hub, and the
# current listing endpoint leaves it out, so the catalog's is the namespace the image is filed
# under.)
_DOCKER_HUB_FIELDS = (
    "name",
    "namespace",
    "description",
    "full_description",
    "star_count",
    "pull_count",
    "last_updated",
)

_INTEGER_FIELDS = ("star_count", "pull_count", "collection_id")
_TEXT_FIELDS = ("user", "description", "full_description")
# PostgreSQL refuses NUL in text, and neither store can encode an unpaired surrogate as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class CatalogError(ValueError):
    """A catalog file that cannot be imported; the message names the record and the field."""


class CatalogFormat(enum.StrEnum):
    AUTO = "auto"
    JSON = "json"  # one JSON document: an array of records, one record, or a listing page
    JSONL = "jsonl"  # JSON Lines: one record per line
    DOCKER_HUB = "dockerhub"  # Docker Hub repository objects


class _DockerHubRecord(dict[str, Any]):
    """A record converted from a Docker Hub repository object: it may leave out the fields
    the store keeps as they are (`KEPT_WHEN_LEFT_OUT`)."""


@dataclass(frozen=True)
class _Rules:
    record: Callable[[Any], Any]
    docker_hub: Callable[[Any], Any]
    namespace: re.Pattern[str]
    repository: re.Pattern[str]


@cache
def _rules() -> _Rules:
    schema = component_schema("OfficialImage")
    # The name is the key, so unlike in a response it is required; an id is optional (the
    # store assigns one), and when given it is kept.
    schema["required"] = [f for f in schema["required"] if f != "id"] + ["name"]
    schema["additionalProperties"] = False
    schema["properties"]["user"].update(minLength=1, maxLength=64)
    # A Docker Hub object's `user` comes from its namespace: a missing namespace is named first.
    docker_hub_required = [f for f in schema["required"] if f not in KEPT_WHEN_LEFT_OUT]
    docker_hub_required.sort(key=lambda f: f != "namespace")
    docker_hub = {**schema, "required": docker_hub_required}
    return _Rules(
        # Compiled to Python once: an import may validate millions of records. fastjsonschema
        # gives `pattern` ECMA-262's `$`, as OpenAPI does.
        record=fastjsonschema.compile(schema),
        docker_hub=fastjsonschema.compile(docker_hub),
        namespace=ecma_regex(parameter_schema("namespace")["pattern"]),
        repository=ecma_regex(parameter_schema("repository")["pattern"]),
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_ECHO else text[: _MAX_ECHO - 3] + "..."


def _describe(error: fastjsonschema.JsonSchemaValueException) -> str:
    """'field 'star_count': must be bigger than or equal to 0', never echoing a long value."""
    path = (error.name or "data").removeprefix("data").lstrip(".")
    message = error.message.removeprefix(error.name or "data").strip()
    if error.rule == "required":
        missing = [f for f in error.rule_definition if f not in (error.value or {})]
        return f"field '{missing[0]}': is required" if missing else "record: " + message
    if error.rule == "additionalProperties":
        extra = sorted(set(error.value) - set(error.definition.get("properties", {})))
        return f"record: unknown field(s): {', '.join(_short(e) for e in extra[:3])}"
    if error.rule == "pattern":
        message = "has the wrong format"
    where = f"field '{path}'" if path else "record"
    return f"{where}: {message}" if len(message) <= 80 else f"{where}: breaks rule {error.rule}"


def validate_record(raw: Any, where: str) -> ImageRecord:
    """Turn one raw JSON value into an ImageRecord, or raise CatalogError naming `where`."""
    rules = _rules()
    try:
        (rules.docker_hub if isinstance(raw, _DockerHubRecord) else rules.record)(raw)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise CatalogError(f"{where}: {_describe(exc)}") from None
    # JSON Schema counts 1.0 and 1e3 as integers; a float is not an int64 to a typed client.
    for field in (*_INTEGER_FIELDS, "id"):
        value = raw.get(field, 0)
        if type(value) is not int:
            raise CatalogError(
                f"{where}: field '{field}': must be an integer, without fraction or exponent"
            )
    for field in _TEXT_FIELDS:
        text = raw.get(field, "")
        # Two C-speed checks settle the usual case (ASCII, no NUL) without the regex's scan of
        # every character: an import runs this three times a record.
        if ("\x00" in text or not text.isascii()) and (found := _UNSTORABLE.search(text)):
            what = "a NUL character" if found.group() == "\x00" else "an unpaired surrogate"
            raise CatalogError(f"{where}: field '{field}': contains {what}, which no store holds")
    namespace, name = raw["namespace"], raw["name"]
    if len(namespace) > 64 or not rules.namespace.match(namespace):
        raise CatalogError(
            f"{where}: field 'namespace': {_short(namespace)} breaks the naming rules"
        )
    if len(name) > 128 or "$" in name or not rules.repository.match(name.replace("/", "$")):
        raise CatalogError(f"{where}: field 'name': {_short(name)} breaks the naming rules")
    try:
        # The schema's pattern has fixed the shape; this rejects impossible dates.
        last_updated = datetime.fromisoformat(raw["last_updated"])
    except ValueError:
        raise CatalogError(
            f"{where}: field 'last_updated': {_short(raw['last_updated'])} is not a valid time"
        ) from None
    # The schema has checked that the object holds exactly the record's fields.
    return ImageRecord.from_checked({**raw, "last_updated": last_updated})


def from_docker_hub(raw: Any, where: str, namespace: str | None = None) -> Any:
    """A Docker Hub repository object as a catalog record, filed under `namespace` if given:
    `user` is the namespace the image is filed under, null descriptions become empty, and ISO
    8601 times become UTC `YYYY-MM-DD HH:MM:SS`. What the object does not carry (a listing
    result's full description, a collection id) is left out: the store keeps an existing
    image's value. Anything that does not convert is left for validation to name."""
    if not isinstance(raw, dict):
        return raw
    record = _DockerHubRecord((k, raw[k]) for k in _DOCKER_HUB_FIELDS if k in raw)
    if namespace is not None:
        record["namespace"] = namespace
    if isinstance(record.get("namespace"), str):
        record["user"] = record["namespace"]
    for field in ("description", "full_description"):
        if field in record and record[field] is None:
            record[field] = ""
    if "collection_id" in raw:
        record["collection_id"] = raw["collection_id"]
    stamp = record.get("last_updated")
    if isinstance(stamp, str):
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            raise CatalogError(
                f"{where}: field 'last_updated': {_short(stamp)} is not an ISO 8601 time"
            ) from None
        if moment.tzinfo is not None:
            try:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            except OverflowError:
                raise CatalogError(
                    f"{where}: field 'last_updated': {_short(stamp)} is outside the years "
                    "1-9999 in UTC"
                ) from None
        record["last_updated"] = api_time(moment)
    return record


def validate_records(raw_records: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, ImageRecord]]:
    """Validate records one by one, as they are read; the first bad one stops the whole
    import. Images repeated in a file are the store's to find (it sees the whole file without
    holding it)."""
    for where, raw in raw_records:
        yield where, validate_record(raw, where)


# --- parsing ---------------------------------------------------------------------------------


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


@contextlib.contextmanager
def _open(path: Path) -> Iterator[io.BufferedReader]:
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise CatalogError(
            f"{path}: cannot read: {exc.strerror or exc.__class__.__name__}"
        ) from None
    with stream:
        yield stream


@contextlib.contextmanager
def open_catalog(
    path: Path,
    catalog_format: CatalogFormat = CatalogFormat.AUTO,
    namespace: str | None = None,
) -> Iterator[Iterator[tuple[str, ImageRecord]]]:
    """The file's records, validated as they are read, each with where it is: nothing holds
    more than one record. `namespace` puts them all in one namespace (Docker Hub's `library`
    as SWR's `official`, say). The file is opened before the caller starts writing."""
    with _open(path) as stream:
        yield validate_records(
            _reading(parse_catalog(stream, str(path), catalog_format, namespace), path)
        )


def _reading(pairs: Iterator[tuple[str, Any]], path: Path) -> Iterator[tuple[str, Any]]:
    # Only errors of reading the file: the consumer's own (a database's) pass through.
    try:
        yield from pairs
    except OSError as exc:
        raise CatalogError(
            f"{path}: cannot read: {exc.strerror or exc.__class__.__name__}"
        ) from None


def read_catalog(
    path: Path,
    catalog_format: CatalogFormat = CatalogFormat.AUTO,
    namespace: str | None = None,
) -> list[tuple[str, ImageRecord]]:
    """Every record of a (small) file, validated, with where it is."""
    with open_catalog(path, catalog_format, namespace) as records:
        return list(records)


def write_json_lines(images: Iterable[Image], out: TextIO) -> int:
    """Write images as JSON Lines, each as the API serves it (with its id); returns the count."""
    count = 0
    for image in images:
        out.write(json.dumps(image.to_api(), ensure_ascii=False))
        out.write("\n")
        count += 1
    return count


def sample_catalog() -> list[ImageRecord]:
    """The bundled sample catalog of Docker official images (sample figures)."""
    data = resources.files("swr_official_images").joinpath("data/official_images.json").read_bytes()
    pairs = parse_catalog(io.BufferedReader(io.BytesIO(data)), "bundled sample catalog")
    return [record for _, record in validate_records(pairs)]
