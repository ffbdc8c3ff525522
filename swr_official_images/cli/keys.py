"""`key create|list|disable|delete`."""

from __future__ import annotations

import argparse
import sys

from swr_official_images.cli.stores import Stores
from swr_official_images.settings import Settings


def cmd_key_create(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    keys = stores.access_keys(master_key=True)
    access_key_id, secret = keys.create(args.name)
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
    stores.access_keys().disable(args.name)
    print(f"key {args.name!r} disabled", file=sys.stderr)
    return 0


def cmd_key_delete(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    stores.access_keys().delete(args.name)
    print(f"key {args.name!r} deleted", file=sys.stderr)
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`key` and its actions."""
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
