"""What a release publishes agrees with the spec: the client's version, the changelog."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_the_client_version_is_the_spec_version(spec):
    pyproject = tomllib.loads((ROOT / "generated_client" / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == spec["info"]["version"]


def test_a_spec_that_differs_from_the_release_has_a_higher_version(spec):
    # The client's version is the spec's: a client of a grown API must not say it is the
    # released one (a wheel of 1.0.0 with operations 1.0.0 never had).
    released = yaml.safe_load((ROOT / "openapi.released.yaml").read_text(encoding="utf-8"))
    if spec == released:
        pytest.skip("openapi.yaml is the released spec")
    assert version_key(spec["info"]["version"]) > version_key(released["info"]["version"])


def test_the_changelog_has_the_spec_version_newest_first(spec):
    headings = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    versions = headings[1:] if headings[:1] == ["Unreleased"] else headings
    assert "Unreleased" not in versions, f"only the first heading may be Unreleased: {headings}"
    assert spec["info"]["version"] in versions, headings
    assert versions == sorted(versions, key=version_key, reverse=True), headings
