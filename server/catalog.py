"""Reading and validating catalog files before anything touches the database.

The rules come from openapi.yaml: a record must be an `OfficialImage` as the API would serve it
(without the id, which the store assigns), and its namespace and name must pass the path
parameter rules, so that every imported image can be looked up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from server.images import API_TIME_FORMAT, ImageRecord
from server.patterns import SpecValidator, ecma_regex
from server.spec import component_schema, parameter_schema

# Only the first few dozen characters of a bad value appear in an error.
_MAX_ECHO = 40


class CatalogError(ValueError):
    """A catalog file that cannot be imported; the message names the record and the field."""


@dataclass(frozen=True)
class _Rules:
    record: Any
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
        record=SpecValidator(schema),
        namespace=ecma_regex(parameter_schema("namespace")["pattern"]),
        repository=ecma_regex(parameter_schema("repository")["pattern"]),
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_ECHO else text[: _MAX_ECHO - 3] + "..."


def _describe(error) -> str:
    field = ".".join(str(p) for p in error.absolute_path)
    where = f"field '{field}'" if field else "record"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        return f"field '{missing}': is required"
    if error.validator == "additionalProperties":
        return f"{where}: unknown field(s): {error.message.rsplit('(', 1)[-1].rstrip(')')}"
    if error.validator == "type":
        return f"{where}: must be of type {error.validator_value}, not {_short(error.instance)}"
    if error.validator == "minimum":
        return f"{where}: must be >= {error.validator_value}, not {_short(error.instance)}"
    if error.validator == "pattern":
        return f"{where}: {_short(error.instance)} has the wrong format"
    return (
        f"{where}: {error.validator} {error.validator_value!r} violated by {_short(error.instance)}"
    )


def validate_record(raw: Any, where: str) -> ImageRecord:
    """Turn one raw JSON value into an ImageRecord, or raise CatalogError naming `where`."""
    rules = _rules()
    if isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k != "id"}
    error = next(iter(sorted(rules.record.iter_errors(raw), key=lambda e: list(e.path))), None)
    if error is not None:
        raise CatalogError(f"{where}: {_describe(error)}")
    # bool is an int to Python but not an integer to a catalog.
    for field in ("star_count", "pull_count", "collection_id"):
        if isinstance(raw[field], bool):
            raise CatalogError(f"{where}: field '{field}': must be of type integer, not a boolean")
    if len(raw["namespace"]) > 64 or not rules.namespace.match(raw["namespace"]):
        raise CatalogError(
            f"{where}: field 'namespace': {_short(raw['namespace'])} breaks the naming rules"
        )
    name = raw["name"]
    if len(name) > 128 or "$" in name or not rules.repository.match(name.replace("/", "$")):
        raise CatalogError(f"{where}: field 'name': {_short(name)} breaks the naming rules")
    try:
        last_updated = datetime.strptime(raw["last_updated"], API_TIME_FORMAT)
    except ValueError:
        raise CatalogError(
            f"{where}: field 'last_updated': {_short(raw['last_updated'])} is not a valid time"
        ) from None
    return ImageRecord(
        user=raw["user"],
        name=name,
        namespace=raw["namespace"],
        description=raw["description"],
        full_description=raw["full_description"],
        star_count=raw["star_count"],
        pull_count=raw["pull_count"],
        collection_id=raw["collection_id"],
        last_updated=last_updated,
    )


def validate_records(raw_records: Iterable[tuple[str, Any]]) -> list[ImageRecord]:
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
    return records


def _json_array(text: str, source: str) -> Iterator[tuple[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, list):
        raise CatalogError(f"{source}: expected a JSON array of image records")
    for index, raw in enumerate(data):
        yield f"record {index}", raw


def read_catalog(path: Path) -> list[ImageRecord]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read: {exc.__class__.__name__}") from None
    return validate_records(_json_array(text, str(path)))


def sample_catalog() -> list[ImageRecord]:
    """The bundled sample catalog of Docker official images (sample figures)."""
    text = resources.files("server").joinpath("data/official_images.json").read_text("utf-8")
    return validate_records(_json_array(text, "bundled sample catalog"))
