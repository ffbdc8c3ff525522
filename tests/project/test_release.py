"""What a release publishes agrees with the spec: the client's version, the changelog."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_the_client_version_is_the_spec_version(spec):
    pyproject = tomllib.loads((ROOT / "generated_client" / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == spec["info"]["version"]


def test_the_changelog_has_the_spec_version_newest_first(spec):
    headings = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    versions = headings[1:] if headings[:1] == ["Unreleased"] else headings
    assert "Unreleased" not in versions, f"only the first heading may be Unreleased: {headings}"
    assert spec["info"]["version"] in versions, headings
    assert versions == sorted(versions, key=version_key, reverse=True), headings
