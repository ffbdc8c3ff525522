"""Writing the catalog as JSON Lines, what an import reads back."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from swr_official_images.domain import Image


def write_json_lines(images: Iterable[Image], out: TextIO) -> int:
    """Write images as JSON Lines, each as the API serves it (with its id); returns the count."""
    count = 0
    for image in images:
        out.write(json.dumps(image.to_api(), ensure_ascii=False))
        out.write("\n")
        count += 1
    return count
