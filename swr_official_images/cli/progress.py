"""Long jobs: progress shown to an operator, and the cyclic garbage collector paused."""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Callable, Iterator

# Without a terminal, one plain line per this many records.
_PLAIN_PROGRESS_EVERY = 100_000


@contextlib.contextmanager
def progress_reporter(label: str, total: int | None = None) -> Iterator[Callable[[int], object]]:
    """A progress bar on a terminal; plain lines in a log (and nothing for small jobs)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=total, desc=label, unit=" records", file=sys.stderr) as bar:
            yield bar.update
        return
    done = 0

    def update(count: int) -> None:
        nonlocal done
        before, done = done, done + count
        if done // _PLAIN_PROGRESS_EVERY > before // _PLAIN_PROGRESS_EVERY:
            of_total = f" of {total}" if total else ""
            print(f"{label}: {done}{of_total} records", file=sys.stderr, flush=True)

    yield update


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a bulk job. An import allocates millions of
    records that live for a batch of 10,000, and the collector's passes over them (and over
    every object the process holds) took over a tenth of its CPU time while finding next to
    nothing: records, rows and strings form no cycles, reference counting frees them. The few
    cycles made meanwhile are collected once it is back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
