"""Command-line options shared by `python -m bench` and the single benchmarks."""

from __future__ import annotations

import argparse
import contextlib
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from bench import BenchError
from bench.report import note
from bench.stores import DEFAULT_POSTGRES_URL, STORES

DEFAULT_RECORDS = 1_000_000


def choice_list(choices: Iterable[str]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated list of some of `choices`, each once."""
    known = tuple(choices)

    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        if not names or set(names) - set(known):
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {', '.join(known)}, not {text!r}"
            )
        return list(dict.fromkeys(names))

    return parse


store_list = choice_list(STORES)


def positive_int(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or a positive integer, not {text!r}")
    return value


def add_store_options(parser: argparse.ArgumentParser, records: bool = True) -> None:
    parser.add_argument(
        "--stores",
        type=store_list,
        default=list(STORES),
        metavar="LIST",
        help=f"stores to measure, comma-separated (default: {','.join(STORES)})",
    )
    if records:
        _add_records_option(parser)
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        metavar="URL",
        help="a PostgreSQL database to connect to for creating and dropping a temporary "
        f"benchmark database (default: {DEFAULT_POSTGRES_URL})",
    )


def _add_records_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--records",
        type=positive_int,
        default=DEFAULT_RECORDS,
        metavar="N",
        help=f"records in the generated catalog (default: {DEFAULT_RECORDS:,})",
    )


# Inside the source tree, ignored by git: the results outlive the run's temporary workspace.
DEFAULT_JSON = Path(__file__).with_name("results") / "latest.json"


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help="write every figure, round by round, to this JSON file (default: "
        "bench/results/latest.json)",
    )


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    """A temporary folder for catalogs and SQLite files (under $TMPDIR), always removed."""
    with tempfile.TemporaryDirectory(prefix="swr-bench-") as folder:
        yield Path(folder)


def run_benchmark_cli(benchmark: Callable[[], str]) -> int:
    """Run `benchmark`, print the report it returns; a failure or an interruption becomes one
    line on stderr and an exit status, after every server, database and file is cleaned up."""
    # SIGTERM (a CI timeout, `kill`) takes the same way out as Ctrl-C, through every `finally`.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = benchmark()
    except KeyboardInterrupt:
        note("interrupted: servers stopped, temporary databases and files removed")
        return 130
    except BenchError as exc:
        note(f"error: {exc}")
        return 1
    print(report)
    return 0


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt
