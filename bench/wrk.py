"""Load from wrk, a native HTTP benchmarking tool, scripted by lookup.lua.

A Python load generator spends more CPU per request than the server under test does, and the
machine has two cores: native load keeps the client's share small (see perf-anchors).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench import BenchError
from bench.report import note
from bench.service import pinned_to

LOOKUP_SCRIPT = Path(__file__).with_name("lookup.lua")
_INSTALL_HINT = (
    "wrk drives the load and is not installed: `sudo apt-get install -y wrk` on Debian or "
    "Ubuntu (other systems: https://github.com/wg/wrk), then run the benchmark again"
)
_RESULT_MARKER = "BENCH_RESULT "


@dataclass(frozen=True)
class LoadSettings:
    connections: int
    threads: int
    seconds: float


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds


def ensure_wrk() -> str:
    """wrk's path; installs the Debian package when it is missing and we can (root with apt)."""
    apt_get = shutil.which("apt-get")
    if shutil.which("wrk") is None and apt_get and os.geteuid() == 0:
        note("wrk is missing: installing it with `apt-get install -y wrk`")
        install = [apt_get, "install", "-y", "wrk"]
        if subprocess.run(install, check=False).returncode != 0:  # noqa: S603
            # The package lists may simply be stale: refresh them once and retry.
            subprocess.run([apt_get, "update"], check=False)  # noqa: S603
            subprocess.run(install, check=False)  # noqa: S603
    found = shutil.which("wrk")
    if found is None:
        raise BenchError(_INSTALL_HINT)
    return found


def run_wrk(
    wrk: str,
    base_url: str,
    token: str,
    catalog_size: int,
    path_template: str,
    load: LoadSettings,
    *,
    expect_errors: bool = False,
    cpu: int | None = None,
) -> WrkResult:
    """Request random images of the catalog for `load.seconds` (a template without a `%`
    conversion requests that one path), on CPU `cpu` when given. Every answer must be a success,
    or with `expect_errors` every answer must be a 4xx/5xx (a workload of 404s or 401s)."""
    command = [
        wrk,
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={load.seconds:g}s",
        "--timeout=5s",
        f"--script={LOOKUP_SCRIPT}",
        base_url,
        "--",
        token,
        str(catalog_size),
        path_template,
        str(secrets.randbelow(2**30)),  # a fresh sample of names every run
    ]
    finished = subprocess.run(  # noqa: S603 (our own command line, no shell)
        command,
        capture_output=True,
        text=True,
        timeout=load.seconds + 60,
        check=False,
        preexec_fn=pinned_to(cpu),
    )
    if finished.returncode != 0:
        # wrk prints its usage, and some of its complaints, on stdout.
        output = (finished.stderr.strip() or finished.stdout.strip())[-2000:]
        raise BenchError(f"wrk failed ({finished.returncode}): {output}")
    return parse_result(finished.stdout, expect_errors)


def parse_result(output: str, expect_errors: bool) -> WrkResult:
    lines = [line for line in output.splitlines() if line.startswith(_RESULT_MARKER)]
    if not lines:
        raise BenchError(f"wrk printed no result line:\n{output}")
    raw = json.loads(lines[-1].removeprefix(_RESULT_MARKER))
    # A 401 or 404 is fast and would flatter the figures: the whole run is then invalid (and a
    # success in a workload of errors means the workload is not what it says).
    wrong = raw["requests"] - raw["status_errors"] if expect_errors else raw["status_errors"]
    if expect_errors and wrong:
        raise BenchError(
            f"wrk saw {wrong} successful answers in {raw['requests']} requests that should all "
            "have failed: the figures would mean nothing"
        )
    if wrong or raw["socket_errors"] or not raw["requests"]:
        raise BenchError(
            f"wrk saw {raw['status_errors']} 4xx/5xx answers and {raw['socket_errors']} "
            f"socket errors in {raw['requests']} requests: the figures would mean nothing"
        )
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
    )
