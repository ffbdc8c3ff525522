"""Code blocks of the README and of the docs' pages, extracted as the tests run them (never copied
into a test)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def documents() -> list[Path]:
    """The README and every page of the site, the pages in file-name order."""
    return [README, *sorted(DOCS.glob("*.md"))]


def name(document: Path) -> str:
    return str(document.relative_to(ROOT))


def code_blocks(markdown: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(markdown) if lang == language]


def blocks_of(language: str) -> list[tuple[Path, str]]:
    """Every block of a language in every document, with the document it is in."""
    return [
        (document, block)
        for document in documents()
        for block in code_blocks(document.read_text(encoding="utf-8"), language)
    ]


def substitute(code: str, replacements: dict[str, str]) -> str:
    """Point a snippet at the test's server; each placeholder must be there to be replaced."""
    for old, new in replacements.items():
        assert old in code, f"the snippet no longer contains {old!r}"
        code = code.replace(old, new)
    return code
