"""`token create|list|revoke`."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta

from swr_official_images.cli.errors import CommandFailed
from swr_official_images.cli.stores import Stores
from swr_official_images.settings import Settings
from swr_official_images.store.tokens import utc_now

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


def cmd_token_create(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    tokens = stores.tokens
    try:
        token = tokens.create(args.name, args.expires_in)
    except OverflowError:
        # Times are stored as calendar dates, which end with the year 9999.
        raise CommandFailed("that lifetime ends after the year 9999") from None
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
    tokens.revoke(args.name)
    print(f"token {args.name!r} revoked", file=sys.stderr)
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`token` and its actions."""
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
