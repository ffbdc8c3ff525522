"""The service as a user runs it: the installed `swr-official-images` command, as subprocesses.

Benchmarks measure what an operator would see, so nothing here imports `swr_official_images`:
imports and servers run in their own processes, with default settings except the database.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench import BenchError

# How long a server may take to start answering, and to stop after SIGTERM.
_START_TIMEOUT_SECONDS = 60
_STOP_GRACE_SECONDS = 10
# The last lines of a failed command's output, quoted in the error.
_ERROR_TAIL_LINES = 15


@dataclass(frozen=True)
class CommandRun:
    """A finished CLI command with what it cost its own process."""

    stdout: str
    stderr: str
    wall_seconds: float
    cpu_seconds: float  # user + system time of the command's process
    peak_rss_mb: float


def cli_command() -> list[str]:
    """The console script installed beside this interpreter (in .venv/bin)."""
    script = Path(sys.executable).with_name("swr-official-images")
    if not script.exists():
        raise BenchError(f"{script} is missing: run `make install` first")
    return [str(script)]


def service_environment(database_url: str) -> dict[str, str]:
    """This environment without any SWR_* setting of the caller's (and commands run where no
    `.env` is), so that every run uses the service's defaults; only the database is ours, and
    response validation is stated off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWR_")}
    env["SWR_DATABASE_URL"] = database_url
    env["SWR_VALIDATE_RESPONSES"] = "false"
    return env


def run_command(database_url: str, *args: str) -> CommandRun:
    """Run `swr-official-images ARGS` to completion; a failure raises BenchError."""
    # Files, not pipes: a chatty command cannot block on a full pipe while we wait for it.
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        # An empty working directory: a `.env` where the benchmark was started is not read.
        tempfile.TemporaryDirectory() as cwd,
    ):
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 (our own command line, no shell)
            [*cli_command(), *args],
            env=service_environment(database_url),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        try:
            # wait4, unlike Popen.wait, also returns the resources this one process used.
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            stop_process(process)
            raise
        wall_seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        run = CommandRun(
            stdout=_read_text(out),
            stderr=_read_text(err),
            wall_seconds=wall_seconds,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,  # Linux reports KiB
        )
    if process.returncode != 0:
        raise BenchError(
            f"`swr-official-images {' '.join(args)}` failed with exit status "
            f"{process.returncode}:\n{_tail(run.stderr)}"
        )
    return run


def load_catalog(database_url: str, catalog: Path) -> None:
    """Create the schema and import a catalog, untimed (the set-up of a lookup benchmark)."""
    run_command(database_url, "migrate")
    run_command(database_url, "import", str(catalog))


def create_token(database_url: str) -> str:
    # Each benchmark database is fresh, so one fixed name never collides; the token is printed
    # alone on stdout.
    return run_command(database_url, "token", "create", "bench").stdout.strip()


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    pid: int
    log_path: Path

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (user + system)."""
        return process_cpu_seconds(self.pid)


def process_cpu_seconds(pid: int) -> float:
    """CPU time process `pid` has used so far (user + system)."""
    # /proc/PID/stat: the fields after the command name, which may contain spaces.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


# The folder that holds the `bench` package: baseline apps are imported from there.
SOURCE_ROOT = Path(__file__).resolve().parents[1]


def serve_arguments() -> list[str]:
    """The `serve` command line of the benchmarks, with production defaults, on a port the
    server picks."""
    return ["serve", "--host", "127.0.0.1", "--port", "0", "--no-sample"]


def serve_command() -> list[str]:
    """This project's server as the README starts it, with production defaults."""
    return [*cli_command(), *serve_arguments()]


def pinned_to(cpu: int | None) -> Callable[[], None] | None:
    """A preexec_fn that keeps a child (and its children) on one CPU, or None: not pinned."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


# What uvicorn logs once it holds its socket, in this project's log formats and its own.
_LISTENING = re.compile(rb"Uvicorn running on (http://127\.0\.0\.1:\d+) ")


@dataclass(frozen=True)
class StartingServer:
    """A server process started on port 0, whose address is in its log once it has bound one.

    A port found free beforehand could be taken by another process before the server binds it,
    and that process would then answer for the server."""

    process: subprocess.Popen
    log_path: Path


@contextlib.contextmanager
def running_server(
    database_url: str,
    log_path: Path,
    probe: tuple[str, str],
    command: Callable[[], list[str]] = serve_command,
    cpu: int | None = None,
) -> Iterator[RunningServer]:
    """`command()` (by default `serve --no-sample`) until the block ends, on CPU `cpu` when
    given. `probe` is (path, token) of an image that must answer 200: proof that the server is
    up and the token works."""
    with starting_server(database_url, log_path, command, cpu) as starting:
        yield wait_until_answering(starting, *probe)


@contextlib.contextmanager
def starting_server(
    database_url: str,
    log_path: Path,
    command: Callable[[], list[str]] = serve_command,
    cpu: int | None = None,
) -> Iterator[StartingServer]:
    """As `running_server`, without waiting for it to answer: several can start at once."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own command line, no shell)
            command(),
            env=service_environment(database_url),
            # The workspace: a `.env` where the benchmark was started must not change settings.
            cwd=log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=pinned_to(cpu),
        )
    try:
        yield StartingServer(process, log_path)
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_answering(starting: StartingServer, path: str, token: str) -> RunningServer:
    """The server once it has logged its address and answers `path` with 200 given `token`."""
    process, log_path = starting.process, starting.log_path
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"the server exited with status {process.returncode} before answering:\n"
                + _tail(log_path.read_text(errors="replace"))
            )
        listening = _LISTENING.search(log_path.read_bytes())
        if listening is None:
            time.sleep(0.2)
            continue
        server = RunningServer(listening.group(1).decode(), process.pid, log_path)
        request = urllib.request.Request(  # noqa: S310 (always http://127.0.0.1:PORT/...)
            server.base_url + path, headers={"X-Auth-Token": token}
        )
        try:
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310
                return server
        except urllib.error.HTTPError as exc:
            raise BenchError(f"the server answers {path} with {exc.code}, not 200") from None
        except OSError:  # bound, not answering yet
            time.sleep(0.2)
    raise BenchError(f"the server did not answer within {_START_TIMEOUT_SECONDS} s")


def _read_text(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode("utf-8", errors="replace")


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-_ERROR_TAIL_LINES:])
