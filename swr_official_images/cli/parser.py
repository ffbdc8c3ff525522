"""The command line's arguments: one parser, built once."""

from __future__ import annotations

import argparse
import functools

from swr_official_images.catalog.files import CatalogFormat
from swr_official_images.cli.catalog import cmd_export, cmd_import
from swr_official_images.cli.config import cmd_config, settings_epilog
from swr_official_images.cli.database import cmd_migrate
from swr_official_images.cli.keys import (
    cmd_key_create,
    cmd_key_delete,
    cmd_key_disable,
    cmd_key_list,
)
from swr_official_images.cli.serve import cmd_serve
from swr_official_images.cli.tokens import (
    cmd_token_create,
    cmd_token_list,
    cmd_token_revoke,
    parse_duration,
)
from swr_official_images.settings import DEFAULT_DATABASE_URL
from swr_official_images.spec import service_version, spec_version


def version_text() -> str:
    return f"swr-official-images {service_version()} (API spec {spec_version()})"


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
