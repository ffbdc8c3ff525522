"""Code blocks of the READMEs, extracted as the tests run them (never copied into a test)."""

from __future__ import annotations

import re

FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def code_blocks(markdown: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(markdown) if lang == language]


def substitute(code: str, replacements: dict[str, str]) -> str:
    """Point a snippet at the test's server; each placeholder must be there to be replaced."""
    for old, new in replacements.items():
        assert old in code, f"the snippet no longer contains {old!r}"
        code = code.replace(old, new)
    return code
