"""Validating catalog records, before anything touches the database.

The rules come from openapi.yaml: a record must be an `OfficialImage` as the API would serve it
(its `id` optional: the store assigns one when it is missing), and its namespace and name must
pass the path parameter rules, so that every imported image can be looked up. What no store can
hold (NUL, unpaired surrogates) is refused here too, so both stores accept the same records.
Docker Hub's repository objects are converted to records first, their ISO 8601 times to the
API's form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import fastjsonschema

from swr_official_images.catalog.errors import CatalogError
from swr_official_images.domain import KEPT_WHEN_LEFT_OUT, ImageRecord, api_time
from swr_official_images.patterns import ecma_regex
from swr_official_images.spec import component_schema, parameter_schema

# Only the first few dozen characters of a bad value appear in an error.
_MAX_ECHO = 40
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
