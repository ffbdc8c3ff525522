"""`migrate` (and its alias `init-db`)."""

from __future__ import annotations

import argparse
import sys

from swr_official_images.cli.stores import Stores
from swr_official_images.settings import Settings
from swr_official_images.store.db import make_engine
from swr_official_images.store.migrations import current_revision, upgrade


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


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`migrate` and `init-db`."""
    for name in ("migrate", "init-db"):
        commands.add_parser(
            name,
            help="create or upgrade the database schema"
            + (" (same as migrate)" if name == "init-db" else ""),
        ).set_defaults(run=cmd_migrate)
