"""Reading, validating and writing catalog files, before anything touches the database.

The rules come from openapi.yaml: a record must be an `OfficialImage` as the API would serve it
(without the id, which the store assigns), and its namespace and name must pass the path
parameter rules, so that every imported image can be looked up.

Files are a JSON array, JSON Lines (one record per line; what `export` writes), or Docker Hub's
repository format (its repository objects, alone, as an array or lines, or as a page of
`results`), whose ISO 8601 times are converted to the API's form.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import fastjsonschema
import orjson

from server.patterns import ecma_regex
from server.spec import component_schema, parameter_schema
from server.store.images import API_TIME_FORMAT, Image, ImageRecord

# Only the first few dozen characters of a bad value appear in an error.
_MAX_ECHO = 40

# Validation reports its progress every this many records.
_PROGRESS_STEP = 10_000

# Fields of Docker Hub's repository objects that the catalog keeps; the rest are ignored.
_DOCKER_HUB_FIELDS = (
    "user",
    "name",
    "namespace",
    "description",
    "full_description",
    "star_count",
    "pull_count",
    "last_updated",
)


class CatalogError(ValueError):
    """A catalog file that cannot be imported; the message names the record and the field."""


class CatalogFormat(enum.StrEnum):
    AUTO = "auto"
    JSON = "json"  # one JSON document: an array of records, one record, or a listing page
    JSONL = "jsonl"  # JSON Lines: one record per line
    DOCKER_HUB = "dockerhub"  # Docker Hub repository objects


@dataclass(frozen=True)
class _Rules:
    record: Callable[[Any], Any]
    namespace: re.Pattern[str]
    repository: re.Pattern[str]


@cache
def _rules() -> _Rules:
    schema = component_schema("OfficialImage")
    # The store assigns ids (an exported "id" is accepted and ignored); the name is the key,
    # so unlike in a response it is required.
    schema["properties"].pop("id")
    schema["required"] = [f for f in schema["required"] if f != "id"] + ["name"]
    schema["additionalProperties"] = False
    schema["properties"]["user"].update(minLength=1, maxLength=64)
    return _Rules(
        # Compiled to Python once: an import may validate millions of records. fastjsonschema
        # gives `pattern` ECMA-262's `$`, as OpenAPI does.
        record=fastjsonschema.compile(schema),
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
    if isinstance(raw, dict) and "id" in raw:
        raw = {k: v for k, v in raw.items() if k != "id"}
    try:
        rules.record(raw)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise CatalogError(f"{where}: {_describe(exc)}") from None
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
    return ImageRecord(
        user=raw["user"],
        name=name,
        namespace=namespace,
        description=raw["description"],
        full_description=raw["full_description"],
        star_count=raw["star_count"],
        pull_count=raw["pull_count"],
        collection_id=raw["collection_id"],
        last_updated=last_updated,
    )


def from_docker_hub(raw: Any, where: str) -> Any:
    """A Docker Hub repository object as a catalog record: null descriptions become empty,
    ISO 8601 times become UTC `YYYY-MM-DD HH:MM:SS`, and the collection id (which Docker Hub
    does not have) is 0. Anything that does not convert is left for validation to name."""
    if not isinstance(raw, dict):
        return raw
    record = {k: raw[k] for k in _DOCKER_HUB_FIELDS if k in raw}
    for field in ("description", "full_description"):
        if record.get(field) is None:
            record[field] = ""
    record["collection_id"] = raw.get("collection_id", 0)
    stamp = record.get("last_updated")
    if isinstance(stamp, str):
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            raise CatalogError(
                f"{where}: field 'last_updated': {_short(stamp)} is not an ISO 8601 time"
            ) from None
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        record["last_updated"] = moment.strftime(API_TIME_FORMAT)
    return record


def validate_records(
    raw_records: Iterable[tuple[str, Any]],
    progress: Callable[[int], None] | None = None,
) -> list[ImageRecord]:
    """Validate every record first; the first bad one stops the whole import."""
    records: list[ImageRecord] = []
    seen: dict[tuple[str, str], str] = {}
    for where, raw in raw_records:
        record = validate_record(raw, where)
        key = (record.namespace, record.name)
        if key in seen:
            raise CatalogError(
                f"{where}: image {record.namespace}/{record.name} repeats {seen[key]}"
            )
        seen[key] = where
        records.append(record)
        if progress is not None and len(records) % _PROGRESS_STEP == 0:
            progress(_PROGRESS_STEP)
    if progress is not None:
        progress(len(records) % _PROGRESS_STEP)
    return records


def _parse_json(text: str, source: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CatalogError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None


def _json_lines(text: str) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield f"line {number}", _parse_json(line, f"line {number}")


def _document_records(data: Any, source: str) -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        data = data["results"]  # a page of Docker Hub's repository listing
    elif isinstance(data, dict):
        yield "record 0", data  # one record (one Docker Hub repository)
        return
    if not isinstance(data, list):
        raise CatalogError(f"{source}: expected a JSON array of image records")
    for index, raw in enumerate(data):
        yield f"record {index}", raw


# What `_one_document` says of a file that is JSON Lines.
_JSON_LINES = object()


def _one_document(text: str, source: str) -> Any:
    """The file parsed as one JSON document (an array, or one object, pretty-printed or not),
    or `_JSON_LINES` when it is not one."""
    start = len(text) - len(text.lstrip())
    head = text[start : start + 1]
    if head == "[":
        return _parse_json(text, source)
    if head != "{":
        return _JSON_LINES
    try:
        # The first value only: JSON Lines stop here at the end of their first line.
        document, end = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError:
        return _JSON_LINES
    return document if not text[end:].strip() else _JSON_LINES


def parse_catalog(
    text: str,
    source: str,
    catalog_format: CatalogFormat = CatalogFormat.AUTO,
) -> Iterator[tuple[str, Any]]:
    """(where, raw record) pairs: `where` names the record in errors (its index or line).

    JSON and JSON Lines are told apart by content unless the format says which; Docker Hub's
    objects are recognised by their `repository_type`, which catalog records never have."""
    if catalog_format is CatalogFormat.JSONL:
        document = _JSON_LINES
    elif catalog_format is CatalogFormat.JSON:
        document = _parse_json(text, source)
    else:
        document = _one_document(text, source)
    pairs = _json_lines(text) if document is _JSON_LINES else _document_records(document, source)
    docker_hub = catalog_format is CatalogFormat.DOCKER_HUB
    for where, raw in pairs:
        if docker_hub or (isinstance(raw, dict) and "repository_type" in raw):
            raw = from_docker_hub(raw, where)
        yield where, raw


def read_catalog(
    path: Path,
    catalog_format: CatalogFormat = CatalogFormat.AUTO,
    namespace: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[ImageRecord]:
    """Every record of the file, validated; `namespace` puts them all in one namespace (Docker
    Hub's `library` as SWR's `official`, say)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read: {exc.__class__.__name__}") from None
    pairs = parse_catalog(text, str(path), catalog_format)
    if namespace is not None:
        pairs = (
            (where, {**raw, "namespace": namespace} if isinstance(raw, dict) else raw)
            for where, raw in pairs
        )
    return validate_records(pairs, progress)


def write_json_lines(images: Iterable[Image], out: TextIO) -> int:
    """Write images as JSON Lines, each as the API serves it; returns the count."""
    count = 0
    for image in images:
        out.write(json.dumps(image.to_api(), ensure_ascii=False))
        out.write("\n")
        count += 1
    return count


def sample_catalog() -> list[ImageRecord]:
    """The bundled sample catalog of Docker official images (sample figures)."""
    text = resources.files("server").joinpath("data/official_images.json").read_text("utf-8")
    return validate_records(parse_catalog(text, "bundled sample catalog", CatalogFormat.JSON))
