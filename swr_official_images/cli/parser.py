"""The command line's arguments: one parser, built once, each command group adding its own."""

from __future__ import annotations

import argparse
import functools

from swr_official_images.cli import catalog, config, database, keys, serve, tokens
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

    for group in (serve, config, database, catalog, tokens, keys):
        group.add_commands(commands)
    return parser
