"""Every benchmark in one run, per store: import a large catalog (timed), re-import it (timed),
compare lookups on it against a 200-image catalog, then compare the lookup with the same
endpoint in FastAPI (two ways), Starlette and plain Connexion. One summary at the end, and a
JSON file.

    python -m bench                                   # 1,000,000 records, SQLite and PostgreSQL
    python -m bench --records 100000 --stores sqlite --rounds 2 --duration 3
    python -m bench --parts frameworks --stores sqlite --rounds 2 --duration 3
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.catalog import generated_catalog
from bench.frameworks import (
    FrameworkComparison,
    add_framework_options,
    comparison_json,
    framework_settings,
    framework_tables,
    run_framework_comparisons,
)
from bench.import_bench import ImportResult, import_table, measure_imports
from bench.lookup_bench import (
    SMALL_CATALOG,
    LookupComparison,
    LookupSettings,
    add_lookup_options,
    compare_lookups,
    lookup_settings,
    lookup_table,
)
from bench.options import (
    add_json_option,
    add_store_options,
    run_benchmark_cli,
    workspace,
)
from bench.report import write_json
from bench.service import load_catalog
from bench.stores import fresh_database
from bench.wrk import ensure_wrk

PARTS = ("imports", "sizes", "frameworks")


def part_list(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or set(parts) - set(PARTS):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(PARTS)}, not {text!r}"
        )
    return [p for p in PARTS if p in parts]


def build_parser() -> argparse.ArgumentParser:
    """`python -m bench`'s options, every part's."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parts",
        type=part_list,
        default=list(PARTS),
        metavar="LIST",
        help="imports (timed imports), sizes (lookups at 200 images and at --records), "
        f"frameworks (the lookup against FastAPI and others); default: {','.join(PARTS)}",
    )
    add_store_options(parser)
    add_lookup_options(parser)
    add_framework_options(parser)
    add_json_option(parser)
    return parser


def main() -> int:
    args = build_parser().parse_args()
    return run_benchmark_cli(lambda: _run(args))


def _run(args: argparse.Namespace) -> str:
    settings = lookup_settings(args) if "sizes" in args.parts else None
    if "frameworks" in args.parts:
        framework_settings(args)  # its options refused before minutes of importing, not after
    ensure_wrk()  # before minutes of importing, not after
    imports: list[ImportResult] = []
    lookups: list[LookupComparison] = []
    with workspace() as workdir:
        if {"imports", "sizes"} & set(args.parts):
            large_catalog = generated_catalog(workdir, args.records)
        for store in args.stores:
            if {"imports", "sizes"} & set(args.parts):
                with fresh_database(store, workdir, args.postgres_url) as large_url:
                    if "imports" in args.parts:
                        # The timed imports leave the large catalog loaded: the lookups reuse it.
                        imports += measure_imports(store, large_url, large_catalog, args.records)
                    else:
                        load_catalog(large_url, large_catalog)
                    if settings is not None:
                        lookups.append(_compare_sizes(args, store, large_url, settings, workdir))
        frameworks = run_framework_comparisons(args, workdir) if "frameworks" in args.parts else []
    write_json(
        args.json,
        vars(args),
        {
            "imports": [vars(i) for i in imports],
            "sizes": [_sizes_json(c) for c in lookups],
            "frameworks": [comparison_json(c) for c in frameworks],
        },
    )
    return _summary(args, imports, lookups, frameworks)


def _compare_sizes(
    args: argparse.Namespace,
    store: str,
    large_url: str,
    settings: LookupSettings,
    workdir: Path,
) -> LookupComparison:
    small_catalog = generated_catalog(workdir, SMALL_CATALOG)
    with fresh_database(store, workdir, args.postgres_url) as small_url:
        load_catalog(small_url, small_catalog)
        small, large = (small_url, SMALL_CATALOG), (large_url, args.records)
        return compare_lookups(store, small, large, settings, workdir)


def _sizes_json(c: LookupComparison) -> dict[str, object]:
    return {
        "store": c.store,
        "small": {"images": c.small.images, "samples": [vars(s) for s in c.small.samples]},
        "large": {"images": c.large.images, "samples": [vars(s) for s in c.large.samples]},
    }


def _summary(
    args: argparse.Namespace,
    imports: list[ImportResult],
    lookups: list[LookupComparison],
    frameworks: list[FrameworkComparison],
) -> str:
    sections = [f"# python -m bench {shlex.join(sys.argv[1:])}".rstrip()]
    if imports:
        sections += [
            "## Import: `swr-official-images import` of a JSON Lines catalog",
            import_table(imports),
        ]
    if lookups:
        load = f"wrk {args.threads} thread(s), {args.connections} connection(s)"
        sections += [
            f"## Lookups: random existing images, {load}, medians of {args.rounds} x "
            f"{args.duration:g} s per size, sizes alternating; a ratio is the median of the "
            "rounds' ratios",
            lookup_table(lookups),
        ]
    if frameworks:
        pinned = (
            f"server on CPU {args.server_cpu}, wrk on CPU {args.wrk_cpu}"
            if args.server_cpu is not None
            else "not pinned"
        )
        sections += [
            f"## The lookup against other frameworks: {args.framework_images:,} images, wrk "
            f"{args.threads} thread(s), {args.framework_connections} connections, {pinned}; "
            f"medians of {args.rounds} x {args.duration:g} s, variants rotating; a ratio to "
            "a FastAPI app (`fastapi`, and the lean `fastapi-lean`) is the median of the rounds' "
            "ratios (their range beside it)",
            framework_tables(frameworks),
        ]
    return "\n\n".join(sections)


if __name__ == "__main__":
    sys.exit(main())
