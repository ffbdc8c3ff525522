"""`import` and `export`: the catalog from and to files."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from swr_official_images.catalog.errors import CatalogError
from swr_official_images.catalog.export import write_json_lines
from swr_official_images.catalog.files import open_catalog
from swr_official_images.catalog.parsing import CatalogFormat
from swr_official_images.cli.errors import INTERRUPTED, CommandFailed
from swr_official_images.cli.progress import cyclic_gc_paused, progress_reporter
from swr_official_images.cli.stores import Stores
from swr_official_images.domain import ImportConflict
from swr_official_images.settings import Settings


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


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`import` and `export`."""
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
