"""`swr-official-images` (also `python -m swr_official_images`): serve, manage the database,
tokens and catalog.

Results a script may capture (a new token) go to stdout alone; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from swr_official_images.cli.errors import INTERRUPTED, CommandFailed
from swr_official_images.cli.parser import build_parser
from swr_official_images.cli.stores import Stores
from swr_official_images.ops.logging import configure_logging
from swr_official_images.settings import Settings, SettingsError

# Connexion imports Starlette's test client, which warns about httpx on import: noise for an
# operator, nothing to act on.
warnings.filterwarnings("ignore", message=".*starlette.testclient.*")


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
