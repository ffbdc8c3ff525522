"""The OpenAPI document, for code that must agree with it (catalog validation, tests)."""

from __future__ import annotations

import copy
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

# A symlink to the top-level openapi.yaml, so that the spec also ships inside the package.
SPEC_PATH = Path(__file__).resolve().parent / "openapi.yaml"


# libyaml's parser, in C, when PyYAML was built with it (its wheels are): every server process,
# worker and test server parses the spec at start.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def _load() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as f:
        spec: dict[str, Any] = yaml.load(f, Loader=_SafeLoader)  # noqa: S506 - a safe loader
    return spec


def service_version() -> str:
    """The installed package's version (what `--version` and the build-info metric report)."""
    try:
        return version("swr-official-images")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def spec_version() -> str:
    return str(_load()["info"]["version"])


def load_spec() -> dict[str, Any]:
    """A private copy of the parsed spec."""
    return copy.deepcopy(_load())


def parameter_schema(name: str) -> dict[str, Any]:
    return copy.deepcopy(_load()["components"]["parameters"][name]["schema"])


def component_schema(name: str) -> dict[str, Any]:
    return copy.deepcopy(_load()["components"]["schemas"][name])
