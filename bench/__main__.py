"""Both benchmarks in one run, per store: import a large catalog (timed), re-import it (timed),
then compare lookups on it against a 200-image catalog. One summary at the end.

    python -m bench                                   # 1,000,000 records, SQLite and PostgreSQL
    python -m bench --records 5000 --stores sqlite --duration 5
"""

from __future__ import annotations

import argparse
import shlex
import sys

from bench.catalog import generated_catalog
from bench.import_bench import ImportResult, import_table, measure_imports
from bench.lookup_bench import (
    SMALL_CATALOG,
    LookupComparison,
    add_lookup_options,
    compare_lookups,
    lookup_settings,
    lookup_table,
)
from bench.options import add_store_options, run_benchmark_cli, workspace
from bench.service import load_catalog
from bench.stores import fresh_database
from bench.wrk import ensure_wrk


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    add_store_options(parser)
    add_lookup_options(parser)
    args = parser.parse_args()
    return run_benchmark_cli(lambda: _run(args))


def _run(args: argparse.Namespace) -> str:
    settings = lookup_settings(args)
    ensure_wrk()  # before minutes of importing, not after
    imports: list[ImportResult] = []
    lookups: list[LookupComparison] = []
    with workspace() as workdir:
        large_catalog = generated_catalog(workdir, args.records)
        small_catalog = generated_catalog(workdir, SMALL_CATALOG)
        for store in args.stores:
            # The timed imports leave the large catalog loaded: the lookups reuse it.
            with fresh_database(store, workdir, args.postgres_url) as large_url:
                imports += measure_imports(store, large_url, large_catalog, args.records)
                with fresh_database(store, workdir, args.postgres_url) as small_url:
                    load_catalog(small_url, small_catalog)
                    small, large = (small_url, SMALL_CATALOG), (large_url, args.records)
                    lookups.append(compare_lookups(store, small, large, settings, workdir))
    return _summary(args, imports, lookups)


def _summary(
    args: argparse.Namespace, imports: list[ImportResult], lookups: list[LookupComparison]
) -> str:
    load = f"wrk {args.threads} thread(s), {args.connections} connection(s)"
    return "\n\n".join(
        [
            f"# python -m bench {shlex.join(sys.argv[1:])}".rstrip(),
            "## Import: `swr-official-images import` of a JSON Lines catalog",
            import_table(imports),
            f"## Lookups: random existing images, {load}, medians of {args.rounds} x "
            f"{args.duration:g} s per size, sizes alternating; a ratio is the median of the "
            "rounds' ratios",
            lookup_table(lookups),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
