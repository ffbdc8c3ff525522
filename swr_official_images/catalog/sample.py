"""The sample catalog bundled with the package."""

from __future__ import annotations

import io
from importlib import resources

from swr_official_images.catalog.parsing import parse_catalog
from swr_official_images.catalog.validation import validate_records
from swr_official_images.domain import ImageRecord


def sample_catalog() -> list[ImageRecord]:
    """The bundled sample catalog of Docker official images (sample figures)."""
    data = resources.files("swr_official_images").joinpath("data/official_images.json").read_bytes()
    pairs = parse_catalog(io.BufferedReader(io.BytesIO(data)), "bundled sample catalog")
    return [record for _, record in validate_records(pairs)]
