"""The `.env` file: `NAME=value` lines read strictly, and mapped to settings as the
environment's variables are."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path

from dotenv.parser import parse_stream
from pydantic_settings import BaseSettings, EnvSettingsSource


class EnvFileError(ValueError):
    """The file cannot be read as settings; the message names the file (and line), never a
    value."""


class DotEnvLines(EnvSettingsSource):
    """The settings found in `.env`'s lines, mapped to fields as the environment's are."""

    def __init__(self, settings_cls: type[BaseSettings], lines: Mapping[str, str]) -> None:
        self._lines = lines
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Case-insensitive, as pydantic-settings reads the environment: swr_port is SWR_PORT.
        return {name.lower(): value for name, value in self._lines.items()}


_NEWLINE = re.compile(r"\r\n|\n|\r")


def read_dotenv(path: Path) -> dict[str, str]:
    """The `NAME=value` lines of a `.env` file ({} when there is none), with python-dotenv's
    syntax (`#` comments, `export`, quotes), read in time linear in its size. Values are taken
    literally: `${NAME}` is not expanded, since a password may contain it. Raises EnvFileError
    naming the file and line when a line is not `NAME=value` or the file is not UTF-8 text."""
    # Not a regular file (a virtualenv is often called .env): no settings file, as before.
    if not (path.is_file() or path.is_fifo()):
        return {}
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EnvFileError(f"{path}: cannot read it: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise EnvFileError(f"{path}, line {line}: not UTF-8 text") from None
    values: dict[str, str] = {}
    # python-dotenv's own parser, without dotenv_values(): that one skips a line it cannot
    # parse (with a warning), expands ${NAME}, and copies the environment once per line.
    for binding in parse_stream(io.StringIO(text)):
        if binding.error or (binding.key is not None and binding.value is None):
            # A binding starts with the blank lines before it: count them in. The line itself
            # is not shown, it may hold a secret.
            original = binding.original.string
            blank = original[: len(original) - len(original.lstrip())]
            line = binding.original.line + len(_NEWLINE.findall(blank))
            raise EnvFileError(f"{path}, line {line}: not a NAME=value line")
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values
