"""Output: progress notes on stderr while a benchmark runs, result tables on stdout at the end."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

# The packages whose versions the figures depend on, recorded beside them.
_VERSIONED = (
    "connexion", "starlette", "fastapi", "pydantic", "uvicorn", "uvloop", "httptools",
    "SQLAlchemy", "psycopg",
)  # fmt: skip


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, readable as plain text too: text left-aligned, numbers right-aligned."""
    cells = [list(headers), *([_cell(value) for value in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [bool(rows) and all(_is_number(row[i]) for row in rows) for i in range(len(headers))]
    rule = [
        ("-" * (w - 1) + ":") if right else "-" * w
        for w, right in zip(widths, numeric, strict=True)
    ]
    lines = [cells[0], rule, *cells[1:]]
    return "\n".join(
        "| "
        + " | ".join(
            text.rjust(w) if right else text.ljust(w)
            for text, w, right in zip(line, widths, numeric, strict=True)
        )
        + " |"
        for line in lines
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_json(path: Path, options: dict[str, object], results: dict[str, object]) -> None:
    """`results` with the options, the time and the versions, as a JSON file at `path`."""
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    document = {
        "arguments": sys.argv[1:],
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in options.items()},
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "versions": versions,
        **results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    note(f"results written to {path}")
