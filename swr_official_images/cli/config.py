"""`config`, and the settings as `serve --help` lists them."""

from __future__ import annotations

import argparse
import textwrap

from swr_official_images.cli.stores import Stores
from swr_official_images.settings import Settings, display_value, setting_infos


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
