"""`swr-official-images` (also `python -m server`): serve, manage the database, tokens and catalog.

Results a script may capture (a new token) go to stdout alone; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import logging.config
import re
import sys
import warnings
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from server.catalog import CatalogError, read_catalog, sample_catalog
from server.db import create_schema, make_engine
from server.images import SqlImageRepository
from server.settings import Settings, SettingsError
from server.tokens import TokenError, TokenStore, utc_now

# Connexion imports Starlette's test client, which warns about httpx on import: noise for an
# operator, nothing to act on.
warnings.filterwarnings("ignore", message=".*starlette.testclient.*")

log = logging.getLogger("server.cli")

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use a positive number and a unit, e.g. 90m, 12h, 30d"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def configure_logging(level: str) -> dict:
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "server.middleware.RequestIdFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "plain",
                "filters": ["request_id"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"level": level, "handlers": ["stderr"], "propagate": False},
            "uvicorn.access": {"level": level, "handlers": ["stderr"], "propagate": False},
        },
    }
    logging.config.dictConfig(config)
    return config


def _stores(settings: Settings) -> tuple[SqlImageRepository, TokenStore]:
    engine = make_engine(settings)
    create_schema(engine)
    return SqlImageRepository(engine), TokenStore(engine)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from server.app import create_app
    from server.transport import uvicorn_options

    images, tokens = _stores(settings)
    if images.count() == 0 and not args.no_sample:
        summary = images.import_records(sample_catalog())
        log.info("empty catalog: loaded the bundled sample catalog (%s)", summary)
    if args.dev_token and not tokens.any_active():
        token = tokens.create(f"dev-{utc_now():%Y%m%d%H%M%S}")
        base = f"http://{settings.host}:{settings.port}"
        print(
            "\nNo API token existed, so a development token was created (shown only now):\n\n"
            f"  {token}\n\nTry it:\n\n"
            f'  curl -H "X-Auth-Token: {token}" '
            f"{base}/v2/manage/dockerhub/namespaces/official/repos/nginx\n\n"
            f"Swagger UI: {base}/ui/\n",
            file=sys.stderr,
            flush=True,
        )
    log_config = configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=log_config,
        **uvicorn_options(settings),
    )
    return 0


def cmd_init_db(args: argparse.Namespace, settings: Settings) -> int:
    _stores(settings)
    print("database ready", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        records = read_catalog(Path(args.file))
    except CatalogError as exc:
        print(f"import failed, nothing written: {exc}", file=sys.stderr)
        return 1
    images, _ = _stores(settings)
    summary = images.import_records(records)
    print(f"imported {len(records)} records: {summary}", file=sys.stderr)
    return 0


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    _, tokens = _stores(settings)
    try:
        token = tokens.create(args.name, args.expires_in)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(token)
    print(
        f"token {args.name!r} created; it is shown only now, only its hash is kept",
        file=sys.stderr,
    )
    return 0


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    _, tokens = _stores(settings)
    now = utc_now()
    print(f"{'NAME':<24} {'STATE':<8} {'CREATED (UTC)':<20} EXPIRES (UTC)")
    for info in tokens.list():
        expires = f"{info.expires_at:%Y-%m-%d %H:%M:%S}" if info.expires_at else "never"
        print(
            f"{info.name:<24} {info.state(now):<8} {info.created_at:%Y-%m-%d %H:%M:%S}  {expires}"
        )
    return 0


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    _, tokens = _stores(settings)
    try:
        tokens.revoke(args.name)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"token {args.name!r} revoked", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swr-official-images",
        description="Serve and manage the SWR official images API. "
        "The database is SWR_DATABASE_URL (default: a SQLite file under var/).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="address to listen on (SWR_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (SWR_PORT, default 8080)")
    serve.add_argument(
        "--dev-token",
        action="store_true",
        help="when no active token exists, create one and print it with a curl example",
    )
    serve.add_argument(
        "--no-sample",
        action="store_true",
        help="do not load the bundled sample catalog into an empty database",
    )
    serve.set_defaults(run=cmd_serve)

    init_db = commands.add_parser("init-db", help="create the database schema")
    init_db.set_defaults(run=cmd_init_db)

    importer = commands.add_parser("import", help="load catalog records from a JSON file")
    importer.add_argument("file", help="a JSON array of image records")
    importer.set_defaults(run=cmd_import)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(
            host=getattr(args, "host", None), port=getattr(args, "port", None)
        )
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command != "serve":
        logging.basicConfig(level=settings.log_level, format="%(levelname)s %(message)s")
    return args.run(args, settings)
