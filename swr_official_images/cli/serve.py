"""`serve`: check the address, prepare the store, run uvicorn."""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys
from typing import Any

from swr_official_images.catalog.sample import sample_catalog
from swr_official_images.cli.config import display_value, settings_epilog
from swr_official_images.cli.errors import CommandFailed
from swr_official_images.cli.stores import Stores
from swr_official_images.ops.logging import configure_logging
from swr_official_images.ops.workers import multiprocess_metrics
from swr_official_images.settings import Settings, setting_infos
from swr_official_images.store.tokens import utc_now

log = logging.getLogger("swr_official_images.cli")


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


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`serve`, its flags and the settings table of its help."""
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
