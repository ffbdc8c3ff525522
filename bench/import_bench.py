"""Import throughput of the real CLI, per store: a catalog into an empty database, then again.

The first import inserts every record; the second finds every record unchanged, which is what
re-importing an unchanged catalog costs. Both time `swr-official-images import FILE` as a
subprocess, so the figures include start-up, reading and validating the file: what an operator
waits for. The CLI's own CPU time is reported beside the wall time: on PostgreSQL, most of the
difference is the database server working.

    python -m bench.import_bench --records 5000 --stores sqlite
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import BenchError
from bench.catalog import generated_catalog
from bench.options import add_store_options, run_benchmark_cli, workspace
from bench.report import markdown_table, note
from bench.service import run_command
from bench.stores import fresh_database

# The summary line `import` prints on stdout.
_SUMMARY = re.compile(
    r"inserted (?P<inserted>\d+), updated (?P<updated>\d+), unchanged (?P<unchanged>\d+)"
)


@dataclass(frozen=True)
class ImportResult:
    store: str
    phase: str
    records: int
    wall_seconds: float
    cli_cpu_seconds: float
    cli_peak_rss_mb: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.wall_seconds


def measure_imports(
    store: str, database_url: str, catalog: Path, records: int
) -> list[ImportResult]:
    """Migrate an empty database, import `catalog` (all new), then import it again (all
    unchanged). The database is left holding the catalog, ready for lookups."""
    run_command(database_url, "migrate")
    return [
        _timed_import(store, "import (all new)", database_url, catalog, records, "inserted"),
        _timed_import(
            store, "re-import (all unchanged)", database_url, catalog, records, "unchanged"
        ),
    ]


def _timed_import(
    store: str, phase: str, database_url: str, catalog: Path, records: int, expected: str
) -> ImportResult:
    run = run_command(database_url, "import", str(catalog))
    counts = _summary_counts(run.stdout, run.stderr)
    # An import that did something else than expected measured the wrong thing.
    if counts[expected] != records:
        raise BenchError(f"{store} {phase}: expected {expected} {records}, the CLI said {counts}")
    result = ImportResult(store, phase, records, run.wall_seconds, run.cpu_seconds, run.peak_rss_mb)
    note(
        f"[{store}] {phase}: {records:,} records in {result.wall_seconds:.1f} s "
        f"({result.records_per_second:,.0f} records/s)"
    )
    return result


def _summary_counts(stdout: str, stderr: str) -> dict[str, int]:
    matches = list(_SUMMARY.finditer(stdout))
    if not matches:
        raise BenchError(f"`import` printed no summary line:\n{stderr[-2000:]}")
    return {key: int(value) for key, value in matches[-1].groupdict().items()}


def import_table(results: list[ImportResult]) -> str:
    return markdown_table(
        ["store", "import", "records", "wall s", "records/s", "CLI CPU s", "CLI peak RSS MB"],
        [
            (
                r.store,
                r.phase,
                r.records,
                r.wall_seconds,
                r.records_per_second,
                r.cli_cpu_seconds,
                r.cli_peak_rss_mb,
            )
            for r in results
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.import_bench", description=__doc__.split("\n\n")[0]
    )
    add_store_options(parser)
    args = parser.parse_args()
    return run_benchmark_cli(lambda: _run(args))


def _run(args: argparse.Namespace) -> str:
    results: list[ImportResult] = []
    with workspace() as workdir:
        catalog = generated_catalog(workdir, args.records)
        for store in args.stores:
            with fresh_database(store, workdir, args.postgres_url) as database_url:
                results += measure_imports(store, database_url, catalog, args.records)
    return import_table(results)


if __name__ == "__main__":
    sys.exit(main())
