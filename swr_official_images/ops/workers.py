"""The worker processes' shared metrics directory.

prometheus_client decides when it is imported whether values live in memory or in that
directory, so this module must not import it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def multiprocess_metrics(workers: int) -> Iterator[Path | None]:
    """For `serve`: with several workers, a fresh directory for their metric files, named in
    the environment they inherit, and removed when they have stopped. Entered before
    prometheus_client is imported; the workers inherit the variable."""
    os.environ.pop(MULTIPROC_ENV, None)
    if workers <= 1:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="swr-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)
