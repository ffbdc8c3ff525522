"""Catalog files opened and read as validated records, one at a time."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from swr_official_images.catalog.errors import CatalogError
from swr_official_images.catalog.parsing import CatalogFormat, parse_catalog
from swr_official_images.catalog.validation import validate_records
from swr_official_images.domain import ImageRecord


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
