"""`config`, and the settings as `serve --help` lists them."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from pydantic import SecretStr
from sqlalchemy import make_url

from swr_official_images.cli.stores import Stores
from swr_official_images.settings import SettingInfo, Settings, setting_infos


def cmd_config(args: argparse.Namespace, settings: Settings, stores: Stores) -> int:
    for info in setting_infos():
        print(f"{info.variable}={display_value(info, getattr(settings, info.name))}")
    return 0


def settings_epilog() -> str:
    lines = ["settings (flag > environment variable > .env in the working directory > default):"]
    for info in setting_infos():
        name = f"{info.variable} / {info.flag}" if info.flag else info.variable
        default = display_value(info, info.default) or "(none)"
        lines.append(f"  {name}  (default: {default})")
        lines += textwrap.wrap(
            f"{info.meaning}; allowed: {info.allowed}",
            width=94,
            initial_indent="      ",
            subsequent_indent="      ",
        )
    return "\n".join(lines)


_MASK = "***"


def display_value(info: SettingInfo, value: Any) -> str:
    """A value as an operator writes it, with secrets masked."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if info.secret:
        return "********" if value else ""
    if info.name == "database_url":
        url = make_url(value)
        if url.host is not None and "@" in url.host:
            # An "@" left unescaped in a password: the parser ends the password at the first one
            # and reads the rest as the host. The password runs to the last "@"; mask it whole.
            url = url.set(password=_MASK, host=url.host.rpartition("@")[2])
        # libpq also takes the password as a query parameter.
        if "password" in url.query:
            url = url.update_query_dict({"password": "***"})
        return url.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`config`."""
    commands.add_parser(
        "config",
        help="print the effective settings (secrets masked)",
        description="Print every setting as NAME=value, as variables, .env and defaults make "
        "it; passwords and secrets are masked.",
    ).set_defaults(run=cmd_config)
