"""The lookup against the same endpoint in FastAPI, Starlette and plain Connexion, in one run.

On one catalog (100,000 generated images and a nested one), five servers run side by side:
this project's `serve` as the README starts it (production defaults: 1 worker, its logging)
and the baselines of `bench/baselines/` under uvicorn (1 worker, uvloop, httptools, access log
off, which is how their users measure them). Two of them are the references every ratio is
taken to: `fastapi`, FastAPI as most of its users write it (sync endpoints in the thread pool,
SQLAlchemy), and `fastapi-lean`, as a user who cares about speed writes it (`async def`
endpoints, the rows read by the raw driver). Before measuring, every variant must answer the
same statuses and the same JSON as this project (request ids aside) for an image, a nested
`$` image, a missing image, no token, a bad token, the list's first page of 100 and a page after
a marker.

Then, per round, each workload (one hot image; uniform random images; random missing images:
404; random images with an unknown token: 401; pages of 100 of the list after random images,
the service's keyset query in every variant) drives each variant in turn, the order rotating
from round to round. The server runs on one CPU, wrk on another. A ratio to a reference is the
median of the per-round ratios: the variants of a round ran back to back.

With `--busy-server-cpu`, a busy loop shares the server's CPU during every measurement (not
the warm-up), as a neighbour on a shared machine would: the server gets about half of the CPU,
in turns of a few milliseconds, and the tail shows how it copes.

A change's worth is measured the same way: `--revisions REV` adds this project's `serve` as it
was at a git revision, its tree exported into the workspace and run on the same interpreter and
dependencies, as one more variant beside today's.

    python -m bench.frameworks --rounds 2 --duration 3 --stores sqlite
    python -m bench.frameworks --variants swr-official-images,fastapi --revisions HEAD~1
    python -m bench.frameworks --stores sqlite --workloads hot,random --busy-server-cpu
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench import BenchError
from bench.catalog import IMAGE_PATH_TEMPLATE, NAME_TEMPLATE, NAMESPACE, generated_catalog
from bench.lookup_bench import add_lookup_options
from bench.options import (
    add_json_option,
    add_store_options,
    choice_list,
    positive_int,
    run_benchmark_cli,
    workspace,
)
from bench.report import markdown_table, note, write_json
from bench.service import (
    SOURCE_ROOT,
    RunningServer,
    create_token,
    load_catalog,
    pinned_to,
    run_command,
    serve_arguments,
    serve_command,
    starting_server,
    wait_until_answering,
)
from bench.stores import fresh_database
from bench.wrk import LoadSettings, WrkResult, ensure_wrk, run_wrk

DEFAULT_IMAGES = 100_000
DEFAULT_CONNECTIONS = 32
REFERENCE = "fastapi"
LEAN_REFERENCE = "fastapi-lean"
# Every ratio is taken to each of these.
REFERENCES = (REFERENCE, LEAN_REFERENCE)
_IMAGE_PATH = f"/v2/manage/dockerhub/namespaces/{NAMESPACE}/repos/"
NESTED_IMAGE = "library/bench-nested"
MISSING_PATH_TEMPLATE = _IMAGE_PATH + "bench-missing-%07d"
# The list: the first page of PAGE_SIZE, and the page after a random image.
PAGE_SIZE = 100
FIRST_PAGE_PATH = f"{_IMAGE_PATH.rstrip('/')}?limit={PAGE_SIZE}"
PAGE_PATH_TEMPLATE = f"{FIRST_PAGE_PATH}&marker={NAME_TEMPLATE}"
# The hot image: one in the middle of the catalog, not the first row of the table.
_HOT_FRACTION = 0.5


def _uvicorn(module: str) -> Callable[[], list[str]]:
    def command() -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", f"bench.baselines.{module}:app",
            "--app-dir", str(SOURCE_ROOT),
            "--host", "127.0.0.1", "--port", "0", "--workers", "1",
            "--loop", "uvloop", "--http", "httptools", "--lifespan", "on", "--no-access-log",
        ]  # fmt: skip

    return command


# A variant's name -> the command line that serves it on a port it picks (port 0).
Variants = dict[str, Callable[[], list[str]]]

PROJECT = "swr-official-images"
# This project first: it is the reference every other answer is checked against.
VARIANTS: Variants = {
    PROJECT: serve_command,
    REFERENCE: _uvicorn("fastapi_app"),
    LEAN_REFERENCE: _uvicorn("fastapi_lean_app"),
    "starlette": _uvicorn("starlette_app"),
    "connexion": _uvicorn("connexion_app"),
}


def revision_variant(revision: str, workdir: Path) -> Callable[[], list[str]]:
    """This project's `serve` as it was at git revision `revision`: the revision's tree,
    exported into `workdir`, first on the import path of the same interpreter. A revision
    that needs other dependencies, or another database schema, fails to start and says so."""
    export = subprocess.run(  # noqa: S603 (git with our own arguments, no shell)
        ["git", "-C", str(SOURCE_ROOT), "archive", "--format=tar", revision, "--"],  # noqa: S607
        capture_output=True,
        check=False,
    )
    if export.returncode != 0:
        raise BenchError(f"cannot export revision {revision!r}: {export.stderr.decode().strip()}")
    tree = workdir / f"revision-{len(list(workdir.glob('revision-*')))}"
    with tarfile.open(fileobj=io.BytesIO(export.stdout)) as archive:
        archive.extractall(tree, filter="data")

    # The tree's own package, run as a module: revisions before the package was renamed call it
    # `server`, and the installed console script would import today's package instead.
    package = "swr_official_images" if (tree / "swr_official_images").is_dir() else "server"

    def command() -> list[str]:
        return ["env", f"PYTHONPATH={tree}", sys.executable, "-m", package, *serve_arguments()]

    return command


def chosen_variants(names: list[str], revisions: list[str], workdir: Path) -> Variants:
    """The named variants in VARIANTS' order (this project and both FastAPI apps always among
    them: one is the reference of answers, the others of ratios), then one per revision."""
    chosen: Variants = {
        name: command
        for name, command in VARIANTS.items()
        if name in names or name in (PROJECT, *REFERENCES)
    }
    for revision in revisions:
        chosen[f"{PROJECT}@{revision}"] = revision_variant(revision, workdir)
    return chosen


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    path_template: str
    picks: int  # lookup.lua picks an index below this for the template's conversion
    valid_token: bool
    expect_errors: bool


def workloads(images: int) -> list[Workload]:
    hot = IMAGE_PATH_TEMPLATE % int(images * _HOT_FRACTION)
    random_images = f"uniform random images of {images:,}: 200"
    return [
        Workload("hot", "one image, again and again: 200", hot, 1, True, False),
        Workload("random", random_images, IMAGE_PATH_TEMPLATE, images, True, False),
        Workload("404", "random missing images: 404", MISSING_PATH_TEMPLATE, images, True, True),
        Workload("401", "random images, bad token: 401", IMAGE_PATH_TEMPLATE, images, False, True),
        Workload(
            "page",
            f"pages of {PAGE_SIZE} after random images of {images:,}: 200",
            PAGE_PATH_TEMPLATE,
            images,
            True,
            False,
        ),
    ]


WORKLOADS = tuple(w.name for w in workloads(1))


@dataclass(frozen=True)
class Settings:
    load: LoadSettings
    warmup_seconds: float
    rounds: int
    images: int
    server_cpu: int | None
    wrk_cpu: int | None
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    workloads: list[str] = field(default_factory=lambda: list(WORKLOADS))
    revisions: list[str] = field(default_factory=list)
    busy_server_cpu: bool = False


@dataclass(frozen=True)
class Sample:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    server_cpu_us_per_request: float


@dataclass
class FrameworkComparison:
    store: str
    images: int
    # workload name -> variant name -> one sample per round, in round order
    samples: dict[str, dict[str, list[Sample]]] = field(default_factory=dict)

    def values(self, workload: str, variant: str, figure: str) -> list[float]:
        return [getattr(s, figure) for s in self.samples[workload][variant]]

    def ratios(
        self, workload: str, variant: str, figure: str, reference: str = REFERENCE
    ) -> list[float]:
        """variant / reference, round by round."""
        pairs = zip(
            self.values(workload, variant, figure),
            self.values(workload, reference, figure),
            strict=True,
        )
        return [mine / reference for mine, reference in pairs]

    def summary(self) -> dict[str, dict[str, dict[str, object]]]:
        """Per workload and variant: medians, and ratios to each reference (median and range)."""
        result: dict[str, dict[str, dict[str, object]]] = {}
        for workload, variants in self.samples.items():
            result[workload] = {}
            for variant in variants:
                figures: dict[str, object] = {
                    figure: statistics.median(self.values(workload, variant, figure))
                    for figure in _FIGURES
                }
                for figure in ("requests_per_second", "p99_ms"):
                    for reference in REFERENCES:
                        ratios = self.ratios(workload, variant, figure, reference)
                        key = f"{figure}_vs_{reference.replace('-', '_')}"
                        figures[key] = statistics.median(ratios)
                        figures[f"{key}_range"] = [min(ratios), max(ratios)]
                result[workload][variant] = figures
        return result


_FIGURES = ("requests_per_second", "p50_ms", "p99_ms", "server_cpu_us_per_request")


@dataclass(frozen=True)
class _Target:
    variant: str
    server: RunningServer


@dataclass(frozen=True)
class Probes:
    """What the agreement check asks every variant, and the tokens to ask with."""

    image_path: str
    nested_path: str
    missing_path: str
    token: str
    bad_token: str
    first_page_path: str
    page_path: str  # a page after a marker, with a nextMarker

    def cases(self) -> list[tuple[str, str, str | None]]:
        return [
            ("an image", self.image_path, self.token),
            ("a nested $ image", self.nested_path, self.token),
            ("a missing image", self.missing_path, self.token),
            ("no token", self.image_path, None),
            ("a bad token", self.image_path, self.bad_token),
            ("the first page", self.first_page_path, self.token),
            ("a page after a marker", self.page_path, self.token),
            ("a page, bad token", self.page_path, self.bad_token),
        ]


def unknown_token() -> str:
    # Shaped like a real one (swr_official_images.store.tokens), so it is refused for being unknown.
    return "swr_" + secrets.token_urlsafe(32)


def compare_frameworks(
    store: str, database_url: str, settings: Settings, workdir: Path
) -> FrameworkComparison:
    """Measure every variant on `database_url`, a catalog of `settings.images` generated images
    plus NESTED_IMAGE (see `load_framework_catalog`)."""
    wrk = ensure_wrk()
    token = create_token(database_url)
    probes = Probes(
        image_path=IMAGE_PATH_TEMPLATE % (settings.images - 1),
        nested_path=_IMAGE_PATH + NESTED_IMAGE.replace("/", "$"),
        missing_path=MISSING_PATH_TEMPLATE % 0,
        token=token,
        bad_token=unknown_token(),
        first_page_path=FIRST_PAGE_PATH,
        page_path=PAGE_PATH_TEMPLATE % int(settings.images * _HOT_FRACTION),
    )
    comparison = FrameworkComparison(store, settings.images)
    variants = chosen_variants(settings.variants, settings.revisions, workdir)
    with serving_variants(database_url, probes, workdir, settings.server_cpu, variants) as servers:
        targets = [_Target(name, server) for name, server in servers.items()]
        check_agreement({t.variant: t.server.base_url for t in targets}, probes)
        note(f"[{store}] all {len(targets)} variants answer the same statuses and JSON")
        plan = [w for w in workloads(settings.images) if w.name in settings.workloads]
        if settings.warmup_seconds > 0:
            warmup = replace(settings.load, seconds=settings.warmup_seconds)
            # Random images when they are measured: they visit the most of every cache.
            warming = next((w for w in plan if w.name == "random"), plan[0])
            for target in targets:
                # The first requests pay for lazy imports, connection pools and cold pages.
                _drive(wrk, target, warming, probes, warmup, settings.wrk_cpu)
        for round_number in range(settings.rounds):
            shift = round_number % len(targets)
            order = targets[shift:] + targets[:shift]
            for workload in plan:
                for target in order:
                    sample = _measure(wrk, target, workload, probes, settings)
                    note(
                        f"[{store}] round {round_number + 1}, {workload.name}, "
                        f"{target.variant}: {sample.requests_per_second:,.0f} req/s, "
                        f"p50 {sample.p50_ms:.2f} ms, p99 {sample.p99_ms:.2f} ms, "
                        f"server CPU {sample.server_cpu_us_per_request:,.0f} µs/req"
                    )
                    per_variant = comparison.samples.setdefault(workload.name, {})
                    per_variant.setdefault(target.variant, []).append(sample)
    return comparison


def load_framework_catalog(database_url: str, workdir: Path, images: int) -> None:
    """Migrate, import `images` generated images, and the one nested image the check asks for."""
    load_catalog(database_url, generated_catalog(workdir, images))
    nested = {
        "user": NAMESPACE,
        "name": NESTED_IMAGE,
        "namespace": NAMESPACE,
        "description": "A nested image name, written with $ in a path.",
        "full_description": "# Nested\n\nAn image whose name has a slash.",
        "star_count": 7,
        "pull_count": 700,
        "collection_id": 0,
        "last_updated": "2026-01-02 03:04:05",
    }
    path = workdir / "nested.jsonl"
    path.write_text(json.dumps(nested) + "\n", encoding="utf-8")
    run_command(database_url, "import", str(path))


@contextlib.contextmanager
def serving_variants(
    database_url: str,
    probes: Probes,
    workdir: Path,
    cpu: int | None = None,
    variants: Variants = VARIANTS,
) -> Iterator[dict[str, RunningServer]]:
    """Every variant serving `database_url`, each on a port of its own and CPU `cpu`."""
    with contextlib.ExitStack() as stack:
        started = {
            name: stack.enter_context(
                starting_server(database_url, workdir / f"server-{index}.log", command, cpu)
            )
            for index, (name, command) in enumerate(variants.items())
        }
        yield {
            name: wait_until_answering(starting, probes.image_path, probes.token)
            for name, starting in started.items()
        }


def check_agreement(base_urls: dict[str, str], probes: Probes) -> None:
    """Every variant must answer each probe as the first one does: the same status and the same
    JSON document (the same keys in the same order, the same values and types), the request id
    aside, which must match the X-Request-Id header. Bytes may differ in insignificant
    whitespace and escaping: matching them would take FastAPI off its default serialiser."""
    reference, *others = base_urls
    problems = []
    for label, path, token in probes.cases():
        answers = {name: _ask(url + path, token) for name, url in base_urls.items()}
        for name, answer in answers.items():
            problems += [f"{name}, {label}: {p}" for p in answer.problems]
        expected = answers[reference]
        for name in others:
            if answers[name].comparable != expected.comparable:
                problems.append(
                    f"{name} answers {label} with {answers[name].comparable}, "
                    f"{reference} with {expected.comparable}"
                )
    if problems:
        raise BenchError("the variants do not answer alike:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class _Answer:
    comparable: tuple[int, str, str]  # status, content type, canonical body without request_id
    problems: list[str]


# Header -> the values a variant may send. An image's 200 from the service may be kept and
# revalidated (private, no-cache, with an ETag); the baselines keep no-store everywhere.
_REQUIRED_HEADERS = {
    "Cache-Control": ("no-store", "private, no-cache"),
    "X-Content-Type-Options": ("nosniff",),
}


def _ask(url: str, token: str | None) -> _Answer:
    headers = {"X-Auth-Token": token} if token is not None else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http://127.0.0.1 only)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status, head, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, head, raw = exc.code, exc.headers, exc.read()
    problems = [
        f"header {name} is {head.get(name)!r}, not one of {values!r}"
        for name, values in _REQUIRED_HEADERS.items()
        if head.get(name) not in values
    ]
    try:
        body = json.loads(raw)
    except ValueError:
        return _Answer((status, head.get_content_type(), raw.decode(errors="replace")), problems)
    if isinstance(body, dict) and "request_id" in body:
        request_id = body.pop("request_id")
        if request_id != head.get("X-Request-Id"):
            problems.append("the body's request_id is not the X-Request-Id header")
    elif not head.get("X-Request-Id"):
        problems.append("no X-Request-Id header")
    return _Answer((status, head.get_content_type(), json.dumps(body)), problems)


def _drive(
    wrk: str,
    target: _Target,
    workload: Workload,
    probes: Probes,
    load: LoadSettings,
    cpu: int | None,
) -> WrkResult:
    token = probes.token if workload.valid_token else probes.bad_token
    return run_wrk(
        wrk,
        target.server.base_url,
        token,
        workload.picks,
        workload.path_template,
        load,
        expect_errors=workload.expect_errors,
        cpu=cpu,
    )


@contextlib.contextmanager
def busy_loop(cpu: int) -> Iterator[subprocess.Popen[bytes]]:
    """A process spinning on `cpu` for as long as the block runs."""
    process = subprocess.Popen(
        [sys.executable, "-c", "while True: pass"],
        preexec_fn=pinned_to(cpu),
        stdin=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def _measure(
    wrk: str, target: _Target, workload: Workload, probes: Probes, settings: Settings
) -> Sample:
    neighbour: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if settings.busy_server_cpu and settings.server_cpu is not None:
        neighbour = busy_loop(settings.server_cpu)
    cpu_before = target.server.cpu_seconds()
    with neighbour:
        result = _drive(wrk, target, workload, probes, settings.load, settings.wrk_cpu)
    cpu_seconds = target.server.cpu_seconds() - cpu_before
    return Sample(
        requests_per_second=result.requests_per_second,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        server_cpu_us_per_request=cpu_seconds / result.requests * 1e6,
    )


def framework_tables(comparisons: list[FrameworkComparison]) -> str:
    """One table per store and workload: medians, then ratios to each FastAPI app, req/s with
    the range of the rounds' ratios."""
    sections = []
    for c in comparisons:
        summary = c.summary()
        for workload in workloads(c.images):
            if workload.name not in summary:
                continue
            rows = []
            for variant, figures in summary[workload.name].items():
                ratios: list[object] = []
                for key in ("vs_fastapi", "vs_fastapi_lean"):
                    low, high = figures[f"requests_per_second_{key}_range"]
                    ratios += [
                        figures[f"requests_per_second_{key}"],
                        f"{low:.2f}-{high:.2f}",
                        figures[f"p99_ms_{key}"],
                    ]
                rows.append((variant, *(figures[f] for f in _FIGURES), *ratios))
            headers = [
                "variant", "req/s", "p50 ms", "p99 ms", "server CPU µs/req",
                "req/s vs FastAPI", "rounds", "p99 vs FastAPI",
                "req/s vs lean", "rounds", "p99 vs lean",
            ]  # fmt: skip
            title = f"### {c.store}, {workload.name}: {workload.description}"
            sections.append(title + "\n\n" + markdown_table(headers, rows))
    return "\n\n".join(sections)


def comparison_json(c: FrameworkComparison) -> dict[str, object]:
    return {
        "store": c.store,
        "images": c.images,
        "summary": c.summary(),
        "samples": {
            workload: {variant: [asdict(s) for s in samples] for variant, samples in by.items()}
            for workload, by in c.samples.items()
        },
    }


def default_cpus() -> tuple[int | None, int | None]:
    """The first two CPUs this process may use: one for the server, one for wrk."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def revision_list(text: str) -> list[str]:
    return [r.strip() for r in text.split(",") if r.strip()]


def add_framework_options(parser: argparse.ArgumentParser) -> None:
    server_cpu, wrk_cpu = default_cpus()
    parser.add_argument(
        "--variants",
        type=choice_list(VARIANTS),
        default=list(VARIANTS),
        metavar="LIST",
        help=f"variants to measure, comma-separated; {PROJECT}, {REFERENCE} and "
        f"{LEAN_REFERENCE} always run "
        f"(default: {','.join(VARIANTS)})",
    )
    parser.add_argument(
        "--workloads",
        type=choice_list(WORKLOADS),
        default=list(WORKLOADS),
        metavar="LIST",
        help=f"workloads to run, comma-separated (default: {','.join(WORKLOADS)})",
    )
    parser.add_argument(
        "--revisions",
        type=revision_list,
        default=[],
        metavar="LIST",
        help=f"git revisions of this project to measure beside it, comma-separated, e.g. "
        f"HEAD~1: each runs as the variant {PROJECT}@REV (default: none)",
    )
    parser.add_argument(
        "--framework-images",
        type=positive_int,
        default=DEFAULT_IMAGES,
        metavar="N",
        help=f"images in the framework comparison's catalog (default: {DEFAULT_IMAGES:,})",
    )
    parser.add_argument(
        "--framework-connections",
        type=positive_int,
        default=DEFAULT_CONNECTIONS,
        metavar="N",
        help=f"wrk connections in the framework comparison (default: {DEFAULT_CONNECTIONS})",
    )
    parser.add_argument(
        "--server-cpu",
        type=int,
        default=server_cpu,
        metavar="CPU",
        help=f"the CPU servers run on (default: {server_cpu})",
    )
    parser.add_argument(
        "--wrk-cpu",
        type=int,
        default=wrk_cpu,
        metavar="CPU",
        help=f"the CPU wrk runs on (default: {wrk_cpu})",
    )
    parser.add_argument(
        "--busy-server-cpu",
        action="store_true",
        help="run a busy loop on the servers' CPU during every measurement, as a neighbour on "
        "a shared machine would (default: off)",
    )


def framework_settings(args: argparse.Namespace) -> Settings:
    # Refused before any catalog is generated or server started.
    if args.busy_server_cpu and args.server_cpu is None:
        raise BenchError("--busy-server-cpu needs the servers on one CPU: give --server-cpu")
    load = LoadSettings(
        connections=args.framework_connections, threads=args.threads, seconds=args.duration
    )
    return Settings(
        load=load,
        warmup_seconds=args.warmup,
        rounds=args.rounds,
        images=args.framework_images,
        server_cpu=args.server_cpu,
        wrk_cpu=args.wrk_cpu,
        variants=args.variants,
        workloads=args.workloads,
        revisions=args.revisions,
        busy_server_cpu=args.busy_server_cpu,
    )


def run_framework_comparisons(args: argparse.Namespace, workdir: Path) -> list[FrameworkComparison]:
    settings = framework_settings(args)
    comparisons = []
    for store in args.stores:
        with fresh_database(store, workdir, args.postgres_url) as url:
            load_framework_catalog(url, workdir, settings.images)
            comparisons.append(compare_frameworks(store, url, settings, workdir))
    return comparisons


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.frameworks", description=__doc__.split("\n\n")[0]
    )
    add_store_options(parser, records=False)
    add_lookup_options(parser)
    add_framework_options(parser)
    add_json_option(parser)
    args = parser.parse_args()

    def run() -> str:
        ensure_wrk()
        with workspace() as workdir:
            comparisons = run_framework_comparisons(args, workdir)
        write_json(args.json, vars(args), {"frameworks": [comparison_json(c) for c in comparisons]})
        return framework_tables(comparisons)

    return run_benchmark_cli(run)


if __name__ == "__main__":
    sys.exit(main())
