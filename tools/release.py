"""`make release`: make openapi.yaml the released spec that `make check-breaking` compares with.

It refuses when the version was not raised, when the changelog has no section for it, or when
the spec breaks clients of the last release without a new major version.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from tools.breaking import breaking_changes, load, major

ROOT = Path(__file__).resolve().parent.parent
SPEC = "openapi.yaml"
RELEASED = "openapi.released.yaml"
CHANGELOG = "CHANGELOG.md"


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in str(version).split("."))


def release(root: Path = ROOT) -> str:
    """Release the spec under root; the problem that stops it raises SystemExit."""
    spec, released = load(root / SPEC), load(root / RELEASED)
    version, released_version = str(spec["info"]["version"]), str(released["info"]["version"])
    if spec == released:
        return f"{SPEC} is already the released spec ({version}): nothing to release"
    if version_key(version) <= version_key(released_version):
        raise SystemExit(f"raise info.version in {SPEC} above the released {released_version}")
    headings = re.findall(r"^## (\S+)", (root / CHANGELOG).read_text(encoding="utf-8"), re.M)
    if headings[:1] != [version]:
        raise SystemExit(
            f"{CHANGELOG}: its first section must be '## {version}' (rename '## Unreleased')"
        )
    changes = breaking_changes(released, spec)
    if changes and major(version) <= major(released_version):
        listing = "\n".join(f"  - {change}" for change in changes)
        raise SystemExit(f"{version} breaks clients of {released_version}:\n{listing}")
    shutil.copyfile(root / SPEC, root / RELEASED)
    return f"released {version}: {RELEASED} is now {SPEC}; commit both with {CHANGELOG}"


if __name__ == "__main__":
    print(release())
    sys.exit(0)
