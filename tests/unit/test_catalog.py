"""Catalog files are validated whole, with errors that name the record and the field."""

from __future__ import annotations

import json

import pytest

from swr_official_images.catalog.errors import CatalogError
from swr_official_images.catalog.files import open_catalog
from swr_official_images.catalog.parsing import CatalogFormat
from swr_official_images.catalog.sample import sample_catalog
from tests.conftest import NESTED_IMAGE, record_to_json


def read_catalog(path, catalog_format=CatalogFormat.AUTO, namespace=None) -> list:
    """Every record of a (small) file, validated, with where it is."""
    with open_catalog(path, catalog_format, namespace) as records:
        return list(records)


def write(tmp_path, records) -> object:
    path = tmp_path / "catalog.json"
    path.write_text(records if isinstance(records, str) else json.dumps(records), encoding="utf-8")
    return path


def test_the_sample_catalog_is_large_valid_and_has_the_spec_example(spec):
    records = sample_catalog()
    assert len(records) >= 100
    assert len({(r.namespace, r.name) for r in records}) == len(records)
    nginx = next(r for r in records if (r.namespace, r.name) == ("official", "nginx"))
    assert nginx.description == "Official build of Nginx."


def test_a_valid_file_reads_back(tmp_path):
    records = read_catalog(write(tmp_path, [NESTED_IMAGE, {**NESTED_IMAGE, "name": "redis"}]))
    assert [(where, r.name) for where, r in records] == [
        ("record 0", "library/nginx"),
        ("record 1", "redis"),
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"star_count": -1}, "record 1: field 'star_count'"),
        ({"star_count": "many"}, "record 1: field 'star_count'"),
        ({"star_count": True}, "record 1: field 'star_count'"),
        ({"name": "NGINX"}, "record 1: field 'name'"),
        ({"name": "a" * 129}, "record 1: field 'name'"),
        ({"name": "library$nginx"}, "record 1: field 'name'"),
        ({"namespace": "Official"}, "record 1: field 'namespace'"),
        ({"last_updated": "2026-13-01 00:00:00"}, "record 1: field 'last_updated'"),
        ({"last_updated": "2026-01-01T00:00:00Z"}, "record 1: field 'last_updated'"),
        ({"colour": "blue"}, "record 1: record: unknown field"),
        ({"user": ""}, "record 1: field 'user'"),
    ],
)
def test_an_invalid_record_is_named(tmp_path, change, expected):
    path = write(tmp_path, [NESTED_IMAGE, {**NESTED_IMAGE, "name": "redis", **change}])
    with pytest.raises(CatalogError) as info:
        read_catalog(path)
    assert expected in str(info.value)
    assert len(str(info.value)) < 200 + len(str(path))


def test_a_missing_field_is_named(tmp_path):
    broken = {k: v for k, v in NESTED_IMAGE.items() if k != "pull_count"}
    with pytest.raises(CatalogError, match=r"record 0: field 'pull_count': is required"):
        read_catalog(write(tmp_path, [broken]))


def test_non_arrays_are_refused(tmp_path):
    # (An image repeated in a file is the store's to find: tests/store/test_import.py.)
    with pytest.raises(CatalogError, match="expected a JSON array"):
        read_catalog(write(tmp_path, 42), CatalogFormat.JSON)
    # One object is one record (a Docker Hub repository, say); this one is not a record.
    with pytest.raises(CatalogError, match="line 1: field 'user': is required"):
        read_catalog(write(tmp_path, {"images": []}))
    with pytest.raises(CatalogError, match="record 0: field 'user': is required"):
        read_catalog(write(tmp_path, json.dumps({"images": []}, indent=2)))
    with pytest.raises(CatalogError, match="not valid JSON"):
        read_catalog(write(tmp_path, "[{"))


def test_the_sample_catalog_holds_the_nested_names_the_docs_show():
    # The READMEs call `library$nginx` and list the prefix `library$` against `make serve`.
    nested = {r.name: r for r in sample_catalog() if "/" in r.name}
    assert {"library/alpine", "library/nginx", "library/redis"} <= set(nested)
    assert record_to_json(nested["library/nginx"]) == NESTED_IMAGE
