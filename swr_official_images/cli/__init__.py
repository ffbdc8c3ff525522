"""`swr-official-images` (also `python -m swr_official_images`): serve, manage the database,
tokens and catalog.

Results a script may capture (a new token) go to stdout alone; everything else goes to stderr.

Each command group is a module that adds its own subcommands to the parser (serve, config,
database, catalog, tokens, keys); a command raises, and errors.py alone decides what the
operator reads and the exit status.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable, Sequence

from swr_official_images.cli.errors import failure_of, report
from swr_official_images.cli.parser import build_parser
from swr_official_images.cli.stores import Stores
from swr_official_images.ops.logging import configure_logging
from swr_official_images.settings import Settings

# Connexion imports Starlette's test client, which warns about httpx on import: noise for an
# operator, nothing to act on.
warnings.filterwarnings("ignore", message=".*starlette.testclient.*")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stores: Stores | None = None
    try:
        settings = Settings.from_env(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            workers=getattr(args, "workers", None),
        )
        if args.command == "serve":
            configure_logging(settings.log_level, settings.log_format)
        else:
            # stdout is for results a script captures (a token, an export).
            configure_logging(settings.log_level, settings.log_format, stream="ext://sys.stderr")
        stores = Stores(settings)
        run: Callable[[argparse.Namespace, Settings, Stores], int] = args.run
        return run(args, settings, stores)
    except (Exception, KeyboardInterrupt) as error:
        failure = failure_of(error)
        if failure is None:
            raise
        return report(failure)
    finally:
        if stores is not None:
            stores.close()
