"""Lookup throughput with a 200-image and a large catalog, per store, measured side by side.

Two servers run at once, one per catalog, each the real `serve --no-sample` with default
settings (response validation off). wrk drives one at a time and the order alternates each
round (small-large, large-small, ...), so drift in the machine's load hits both alike. Requests
pick random existing images over the whole catalog, so the large case really walks its index.

Read the ratio large/small: on a shared 2-core machine absolute figures move from run to run,
a ratio measured in one run much less. Server CPU per request is the steadiest figure; on
PostgreSQL it leaves out the database's own processes. To see how far noise alone moves a
ratio on a machine, compare two catalogs that differ by one image: `--records 201`.

    python -m bench.lookup_bench --records 5000 --duration 5
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from bench import BenchError
from bench.catalog import IMAGE_PATH_TEMPLATE, generated_catalog
from bench.options import (
    add_store_options,
    non_negative_int,
    positive_int,
    run_benchmark_cli,
    workspace,
)
from bench.report import markdown_table, note
from bench.service import RunningServer, create_token, load_catalog, running_server
from bench.stores import fresh_database
from bench.wrk import LoadSettings, WrkResult, ensure_wrk, run_wrk

# The size of the real catalog of official images: the baseline the large one is compared to.
SMALL_CATALOG = 200


@dataclass(frozen=True)
class LookupSettings:
    load: LoadSettings
    warmup_seconds: float
    rounds: int


@dataclass(frozen=True)
class Sample:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    server_cpu_us_per_request: float


@dataclass(frozen=True)
class Series:
    """Every sample of one catalog size, in round order."""

    images: int
    samples: list[Sample]

    def values(self, figure: str) -> list[float]:
        return [getattr(s, figure) for s in self.samples]


@dataclass(frozen=True)
class LookupComparison:
    store: str
    small: Series
    large: Series

    def ratios(self, figure: str) -> list[float]:
        """large/small per round: the two sizes of a round ran back to back, so a ratio of the
        pair cancels most of the drift that separates rounds."""
        pairs = zip(self.small.values(figure), self.large.values(figure), strict=True)
        return [large / small for small, large in pairs]


@dataclass(frozen=True)
class _Target:
    """A server under test and what wrk needs to ask it for images that exist."""

    store: str
    images: int
    server: RunningServer
    token: str


_FIGURES = ("requests_per_second", "p50_ms", "p99_ms", "server_cpu_us_per_request")


def compare_lookups(
    store: str,
    small: tuple[str, int],
    large: tuple[str, int],
    settings: LookupSettings,
    workdir: Path,
) -> LookupComparison:
    """`small` and `large` are (database URL, image count) of two loaded catalogs."""
    wrk = ensure_wrk()
    with contextlib.ExitStack() as servers:
        small_target = servers.enter_context(_serving(store, *small, workdir))
        large_target = servers.enter_context(_serving(store, *large, workdir))
        if settings.warmup_seconds > 0:
            warmup = replace(settings.load, seconds=settings.warmup_seconds)
            for target in (small_target, large_target):
                # The first requests pay for lazy imports, connection pools and cold pages.
                _drive(wrk, target, warmup)
        samples: dict[_Target, list[Sample]] = {small_target: [], large_target: []}
        for round_number in range(settings.rounds):
            order = [small_target, large_target]
            if round_number % 2:
                order.reverse()
            for target in order:
                samples[target].append(_measure(wrk, target, settings.load, round_number))
    return LookupComparison(
        store,
        Series(small_target.images, samples[small_target]),
        Series(large_target.images, samples[large_target]),
    )


@contextlib.contextmanager
def _serving(store: str, database_url: str, images: int, workdir: Path) -> Iterator[_Target]:
    token = create_token(database_url)
    # The last image must answer: the catalog is loaded in full and the token works.
    probe = (IMAGE_PATH_TEMPLATE % (images - 1), token)
    log_path = workdir / f"server-{store}-{images}.log"
    with running_server(database_url, log_path, probe) as server:
        yield _Target(store, images, server, token)


def _drive(wrk: str, target: _Target, load: LoadSettings) -> WrkResult:
    return run_wrk(
        wrk, target.server.base_url, target.token, target.images, IMAGE_PATH_TEMPLATE, load
    )


def _measure(wrk: str, target: _Target, load: LoadSettings, round_number: int) -> Sample:
    cpu_before = target.server.cpu_seconds()
    result = _drive(wrk, target, load)
    cpu_seconds = target.server.cpu_seconds() - cpu_before
    sample = Sample(
        requests_per_second=result.requests_per_second,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        server_cpu_us_per_request=cpu_seconds / result.requests * 1e6,
    )
    note(
        f"[{target.store}] {target.images:,} images, round {round_number + 1}: "
        f"{sample.requests_per_second:,.0f} req/s, p50 {sample.p50_ms:.2f} ms, "
        f"p99 {sample.p99_ms:.2f} ms, server CPU {sample.server_cpu_us_per_request:,.0f} µs/req"
    )
    return sample


def lookup_table(comparisons: list[LookupComparison]) -> str:
    """Medians per catalog size, then the median of the per-round ratios; the req/s range
    (lowest-highest of the rounds) shows how much the machine's noise moved the figures."""
    rows = []
    for c in comparisons:
        for series in (c.small, c.large):
            rows.append(_table_row(c.store, f"{series.images:,}", series.values))
        ratio_label = f"ratio {c.large.images:,} / {c.small.images:,}"
        rows.append(_table_row(c.store, ratio_label, c.ratios))
    headers = ["store", "images", "req/s", "req/s range", "p50 ms", "p99 ms", "server CPU µs/req"]
    return markdown_table(headers, rows)


def _table_row(store: str, label: str, values: Callable[[str], list[float]]) -> tuple:
    throughput = values("requests_per_second")
    spread = f"{_short(min(throughput))}-{_short(max(throughput))}"
    medians = [statistics.median(values(figure)) for figure in _FIGURES]
    return (store, label, medians[0], spread, *medians[1:])


def _short(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:,.0f}"


def add_lookup_options(parser: argparse.ArgumentParser) -> None:
    # Whole seconds: wrk refuses a fraction.
    parser.add_argument(
        "--duration",
        type=positive_int,
        default=10,
        metavar="S",
        help="seconds per measurement (10)",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_int,
        default=3,
        metavar="S",
        help="warm-up seconds per server (3; 0: none)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=3,
        help="measurements per catalog size or variant and workload, the order alternating (3)",
    )
    parser.add_argument(
        "--connections", type=positive_int, default=2, help="wrk connections, catalog sizes (2)"
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="wrk threads (1)")


def lookup_settings(args: argparse.Namespace) -> LookupSettings:
    if args.records <= SMALL_CATALOG:
        raise BenchError(f"--records must be above {SMALL_CATALOG}, the small catalog's size")
    load = LoadSettings(connections=args.connections, threads=args.threads, seconds=args.duration)
    return LookupSettings(load=load, warmup_seconds=args.warmup, rounds=args.rounds)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.lookup_bench", description=__doc__.split("\n\n")[0]
    )
    add_store_options(parser)
    add_lookup_options(parser)
    args = parser.parse_args()
    return run_benchmark_cli(lambda: _run(args))


def _run(args: argparse.Namespace) -> str:
    settings = lookup_settings(args)
    comparisons = []
    with workspace() as workdir:
        catalogs = {n: generated_catalog(workdir, n) for n in (SMALL_CATALOG, args.records)}
        for store in args.stores:
            with (
                fresh_database(store, workdir, args.postgres_url) as small_url,
                fresh_database(store, workdir, args.postgres_url) as large_url,
            ):
                load_catalog(small_url, catalogs[SMALL_CATALOG])
                load_catalog(large_url, catalogs[args.records])
                small, large = (small_url, SMALL_CATALOG), (large_url, args.records)
                comparisons.append(compare_lookups(store, small, large, settings, workdir))
    return lookup_table(comparisons)


if __name__ == "__main__":
    sys.exit(main())
