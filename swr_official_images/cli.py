"""`swr-official-images` (also `python -m swr_official_images`): serve, manage the database,
tokens and catalog.

Results a script may capture (a new token) go to stdout alone; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import gc
import logging
import os
import re
import socket
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from swr_official_images.catalog.errors import CatalogError
from swr_official_images.catalog.export import write_json_lines
from swr_official_images.catalog.files import open_catalog
from swr_official_images.catalog.parsing import CatalogFormat
from swr_official_images.catalog.sample import sample_catalog
from swr_official_images.domain import ImportConflict
from swr_official_images.ops.logging import configure_logging
from swr_official_images.ops.workers import multiprocess_metrics
from swr_official_images.settings import (
    DEFAULT_DATABASE_URL,
    Settings,
    SettingsError,
    display_value,
    setting_infos,
)
from swr_official_images.spec import service_version, spec_version
from swr_official_images.store.access_keys import AccessKeyError, AccessKeyStore
from swr_official_images.store.db import make_engine
from swr_official_images.store.images import SqlImageRepository
from swr_official_images.store.master_key import MasterKeyError, load_master_key
from swr_official_images.store.migrations import (
    SchemaNotCurrent,
    current_revision,
    prepare_schema,
    upgrade,
)
from swr_official_images.store.tokens import TokenError, TokenStore, utc_now

# Connexion imports Starlette's test client, which warns about httpx on import: noise for an
# operator, nothing to act on.
warnings.filterwarnings("ignore", message=".*starlette.testclient.*")

log = logging.getLogger("swr_official_images.cli")

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use a positive number and a unit, e.g. 90m, 12h, 30d"
        )
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: longer than the calendar goes (year 9999)"
        ) from None


class CommandFailed(Exception):
    """Ends a command with this message on stderr and exit status `status` (1 by default)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# What a shell reports for a command ended by SIGINT (128 + 2).
INTERRUPTED = 130


class Stores:
    """The database a command works on: opened on first use, ready for use (SQLite migrates
    itself, PostgreSQL must have been migrated), and closed when the command ends."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            database = self._settings.sqlite_path()
            if database is not None and not database.exists():
                # A command run with another SWR_DATABASE_URL (or .env) than the server's would
                # otherwise work on an empty database of its own without a word.
                print(
                    f"note: no database at {database}: creating a new, empty one "
                    "(SWR_DATABASE_URL chooses another)",
                    file=sys.stderr,
                    flush=True,
                )
            engine = make_engine(self._settings)
            try:
                prepare_schema(engine)
            except SchemaNotCurrent as exc:
                engine.dispose()
                raise CommandFailed(str(exc)) from None
            self._engine = engine
        return self._engine

    @property
    def images(self) -> SqlImageRepository:
        return SqlImageRepository(self.engine)

    @property
    def tokens(self) -> TokenStore:
        return TokenStore(self.engine)

    def access_keys(self, *, master_key: bool = False) -> AccessKeyStore:
        """The access keys; with the master key (made on SQLite if need be) when `master_key`.
        Only issuing a key needs it: listing, disabling and deleting work without one, or
        with a key file that cannot be used."""
        if not master_key:
            return AccessKeyStore(self.engine, None)
        try:
            key = load_master_key(self._settings, create=True)
        except MasterKeyError as exc:
            raise CommandFailed(str(exc)) from None
        return AccessKeyStore(self.engine, key)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


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


def database_text(settings: Settings) -> str:
    """The database as an operator recognises it: the SQLite file, or the URL, password masked."""
    database = settings.sqlite_path()
    if database is not None:
        return str(database.resolve())
    info = next(info for info in setting_infos() if info.name == "database_url")
    return display_value(info, settings.database_url)


def _can_listen(host: str, port: int) -> OSError | None:
    """Why a server could not listen on host:port now, or None. Bound as uvicorn binds (address
    reuse on, so a port whose old connections linger in TIME_WAIT is free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as error:
        return error
    return None


def _check_port(settings: Settings) -> None:
    """Refuse, in one line, to serve on an address that is taken. uvicorn would find out only
    after the catalog and a development token were made, and say it in a log line that tells
    nothing of how to choose another port."""
    host, port = settings.host, settings.port
    error = _can_listen(host, port)
    if error is None:
        return
    if error.errno != errno.EADDRINUSE:
        raise CommandFailed(f"cannot listen on {host}:{port}: {error.strerror or error}")
    # The next port that is free now, to suggest one that works.
    free = next(
        (p for p in range(port + 1, min(port + 20, 65535) + 1) if _can_listen(host, p) is None),
        port + 1 if port < 65535 else 8081,
    )
    raise CommandFailed(
        f"port {port} on {host} is already in use (another server?): choose another port with "
        f"SWR_PORT or --port, e.g. SWR_PORT={free} make serve"
    )


def cmd_serve(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    _check_port(settings)
    log.info("database: %s", database_text(settings))
    images, tokens = stores.images, stores.tokens
    # Sample data only on request (make serve): made-up counts in a real catalog would stay,
    # since imports never delete.
    if args.sample and images.is_empty():
        summary = images.import_records(sample_catalog())
        log.info("empty catalog: loaded the bundled sample catalog (%s)", summary)
    if args.dev_token and tokens.any_active():
        # A token is shown only when it is made: a restart has none to print.
        print(
            "An API token is already active (a token is shown only when created); for a new "
            "one: .venv/bin/swr-official-images token create NAME",
            file=sys.stderr,
            flush=True,
        )
    elif args.dev_token:
        token = tokens.create(f"dev-{utc_now():%Y%m%d%H%M%S}")
        base = f"http://{settings.host}:{settings.port}"
        # On stderr, apart from the log on stdout: a log collector should not keep a token.
        print(
            "\nNo API token existed, so a development token was created (shown only now):\n\n"
            f"  {token}\n\nTry it:\n\n"
            f'  curl -H "X-Auth-Token: {token}" '
            f"{base}/v2/manage/dockerhub/namespaces/official/repos/nginx\n\n"
            f"Swagger UI: {base}/ui/\n",
            file=sys.stderr,
            flush=True,
        )
    # The server opens its own connections (one pool per worker process).
    stores.close()
    with multiprocess_metrics(settings.workers):
        # Imported only now: prometheus_client reads PROMETHEUS_MULTIPROC_DIR when imported.
        from swr_official_images.app import app_for_process
        from swr_official_images.http.transport import uvicorn_options
        from swr_official_images.ops.shutdown import run_server

        options: dict[str, Any] = dict(
            host=settings.host,
            port=settings.port,
            log_config=configure_logging(settings.log_level, settings.log_format),
            # Ours (swr_official_images.ops.access) replaces it: no query strings, one line per
            # request.
            access_log=False,
        )
        options.update(uvicorn_options(settings))
        if settings.workers > 1:
            # Each worker process builds its own app (and connection pool) from SWR_*.
            run_server("swr_official_images.app:app_from_env", settings, factory=True, **options)
        else:
            run_server(app_for_process(settings), settings, **options)
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    for info in setting_infos():
        print(f"{info.variable}={display_value(info, getattr(settings, info.name))}")
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    engine = make_engine(settings)
    try:
        before = current_revision(engine)
        revision = upgrade(engine)
    finally:
        engine.dispose()
    if before == revision:
        print(f"database schema already at revision {revision}", file=sys.stderr)
    else:
        print(f"database schema upgraded from {before or 'nothing'} to {revision}", file=sys.stderr)
    return 0


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


def cmd_import(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    images = stores.images
    # One pass, record by record: read, validate, stage. A bad record anywhere, or a conflict
    # found once all are staged, rolls the whole import back.
    try:
        with (
            open_catalog(Path(args.file), args.format, args.namespace) as records,
            progress_reporter("importing") as progress,
            cyclic_gc_paused(),
        ):
            summary = images.import_records(records, progress)
    except (CatalogError, ImportConflict) as exc:
        raise CommandFailed(f"import failed, nothing written: {exc}") from None
    except KeyboardInterrupt:
        # The import is one transaction, rolled back on the way out.
        raise CommandFailed("import interrupted, nothing written", INTERRUPTED) from None
    # The result of the command: on stdout, as the README says results are.
    print(f"imported {summary.total} records: {summary}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    images = stores.images
    if args.file in (None, "-"):
        try:
            count = write_json_lines(images.iter_all(), sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader stopped early (`export | head`): not an error of ours.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    else:
        # Written beside the target and renamed: a failed export leaves no half-written file.
        target = Path(args.file)
        if target.is_dir():
            raise CommandFailed(f"export failed: cannot write {target}: it is a directory")
        try:
            fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        except OSError as exc:
            raise CommandFailed(f"export failed: cannot write {target}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                count = write_json_lines(images.iter_all(), out)
            os.replace(partial, target)
        except OSError as exc:
            Path(partial).unlink(missing_ok=True)
            raise CommandFailed(f"export failed: cannot write {target}: {exc.strerror}") from None
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    print(f"exported {count} records", file=sys.stderr)
    return 0


def cmd_token_create(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    tokens = stores.tokens
    try:
        token = tokens.create(args.name, args.expires_in)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OverflowError:
        # Times are stored as calendar dates, which end with the year 9999.
        print("error: that lifetime ends after the year 9999", file=sys.stderr)
        return 1
    print(token)
    print(
        f"token {args.name!r} created; it is shown only now, only its hash is kept",
        file=sys.stderr,
    )
    return 0


def cmd_token_list(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    tokens = stores.tokens
    now = utc_now()
    print(f"{'NAME':<24} {'STATE':<8} {'CREATED (UTC)':<20} EXPIRES (UTC)")
    for info in tokens.list():
        expires = f"{info.expires_at:%Y-%m-%d %H:%M:%S}" if info.expires_at else "never"
        print(
            f"{info.name:<24} {info.state(now):<8} {info.created_at:%Y-%m-%d %H:%M:%S}  {expires}"
        )
    return 0


def cmd_token_revoke(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    tokens = stores.tokens
    try:
        tokens.revoke(args.name)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"token {args.name!r} revoked", file=sys.stderr)
    return 0


def version_text() -> str:
    return f"swr-official-images {service_version()} (API spec {spec_version()})"


def cmd_key_create(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    keys = stores.access_keys(master_key=True)
    try:
        access_key_id, secret = keys.create(args.name)
    except AccessKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # Two lines alone on stdout, so that a script can read them: the AK, then the SK.
    print(access_key_id)
    print(secret)
    print(
        f"key {args.name!r} created: the access key id, then the secret access key, shown only "
        "now; the secret is kept encrypted under the master key",
        file=sys.stderr,
    )
    return 0


def cmd_key_list(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    print(f"{'NAME':<24} {'ACCESS KEY ID':<20}  {'STATE':<8} CREATED (UTC)")
    for info in stores.access_keys().list():
        print(
            f"{info.name:<24} {info.access_key_id:<20}  {info.state:<8} "
            f"{info.created_at:%Y-%m-%d %H:%M:%S}"
        )
    return 0


def cmd_key_disable(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    try:
        stores.access_keys().disable(args.name)
    except AccessKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"key {args.name!r} disabled", file=sys.stderr)
    return 0


def cmd_key_delete(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    try:
        stores.access_keys().delete(args.name)
    except AccessKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"key {args.name!r} deleted", file=sys.stderr)
    return 0


def settings_epilog() -> str:
    lines = ["settings (flag > environment variable > .env in the working directory > default):"]
    for info in setting_infos():
        name = f"{info.variable} / {info.flag}" if info.flag else info.variable
        default = display_value(info, info.default) or "(none)"
        lines.append(f"  {name}  (default: {default})")
        lines += textwrap.wrap(
            f"{info.meaning}; allowed: {info.allowed}",
            width=94,
            initial_indent="      ",
            subsequent_indent="      ",
        )
    return "\n".join(lines)


# Built once per process: argparse looks up a translation of every help text as it builds.
@functools.cache
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swr-official-images",
        description="Serve and manage the SWR official images API. "
        f"The database is SWR_DATABASE_URL (default: {DEFAULT_DATABASE_URL}).",
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the HTTP service",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=settings_epilog(),
    )
    # Flags are validated with the variables they override (Settings.from_env), not by argparse.
    serve.add_argument("--host", help="address to listen on (SWR_HOST, default 127.0.0.1)")
    serve.add_argument("--port", help="port to listen on (SWR_PORT, default 8080)")
    serve.add_argument(
        "--dev-token",
        action="store_true",
        help="when no active token exists, create one and print it with a curl example",
    )
    serve.add_argument(
        "--workers",
        help="server processes (SWR_WORKERS, default 1); several want PostgreSQL",
    )
    serve.add_argument(
        "--sample",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="load the bundled sample catalog (made-up counts) into an empty database "
        "(default: --no-sample)",
    )
    serve.set_defaults(run=cmd_serve)

    commands.add_parser(
        "config",
        help="print the effective settings (secrets masked)",
        description="Print every setting as NAME=value, as variables, .env and defaults make "
        "it; passwords and secrets are masked.",
    ).set_defaults(run=cmd_config)

    for name in ("migrate", "init-db"):
        commands.add_parser(
            name,
            help="create or upgrade the database schema"
            + (" (same as migrate)" if name == "init-db" else ""),
        ).set_defaults(run=cmd_migrate)

    importer = commands.add_parser(
        "import",
        help="load catalog records from a file (all or nothing)",
        description="Insert new images and update changed ones in place, keeping their ids. "
        "Every record is validated first: one bad record and nothing is written.",
    )
    importer.add_argument("file", help="a JSON array, JSON Lines, or Docker Hub repository objects")
    importer.add_argument(
        "--format",
        type=CatalogFormat,
        choices=list(CatalogFormat),
        default=CatalogFormat.AUTO,
        help="auto (default) tells JSON from JSON Lines and recognises Docker Hub's objects",
    )
    importer.add_argument(
        "--namespace",
        help="put every image in this namespace (e.g. Docker Hub's library as official)",
    )
    importer.set_defaults(run=cmd_import)

    exporter = commands.add_parser(
        "export", help="write the catalog as JSON Lines (which import reads back)"
    )
    exporter.add_argument("file", nargs="?", help="output file (default: stdout)")
    exporter.set_defaults(run=cmd_export)

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="issue a token and print it on stdout")
    create.add_argument("name", help="a name to list and revoke it by")
    create.add_argument(
        "--expires-in", type=parse_duration, help="lifetime, e.g. 90m, 12h, 30d (default: none)"
    )
    create.set_defaults(run=cmd_token_create)
    token_commands.add_parser("list", help="list tokens (never their values)").set_defaults(
        run=cmd_token_list
    )
    revoke = token_commands.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    revoke.set_defaults(run=cmd_token_revoke)

    key = commands.add_parser("key", help="manage AK/SK access keys (request signing)")
    key_commands = key.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    create = key_commands.add_parser(
        "create", help="issue a key; print its access key id and secret access key on stdout"
    )
    create.add_argument("name", help="a name to list, disable and delete it by")
    create.set_defaults(run=cmd_key_create)
    key_commands.add_parser("list", help="list keys (never their secrets)").set_defaults(
        run=cmd_key_list
    )
    for action, run, what in (
        ("disable", cmd_key_disable, "refuse a key's signatures from now on; it stays listed"),
        ("delete", cmd_key_delete, "delete a key"),
    ):
        command = key_commands.add_parser(action, help=what)
        command.add_argument("name")
        command.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            workers=getattr(args, "workers", None),
        )
    except SettingsError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    if args.command == "serve":
        configure_logging(settings.log_level, settings.log_format)
    else:
        # stdout is for results a script captures (a token, an export).
        configure_logging(settings.log_level, settings.log_format, stream="ext://sys.stderr")
    stores = Stores(settings)
    try:
        run: Callable[[argparse.Namespace, Settings, Stores], int] = args.run
        return run(args, settings, stores)
    except CommandFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return INTERRUPTED
    except SQLAlchemyError as exc:
        # An operator's mistake (wrong URL, database down) deserves one line, not a traceback.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"error: database: {exc.__class__.__name__}: {reason}", file=sys.stderr)
        return 1
    finally:
        stores.close()
