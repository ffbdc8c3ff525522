"""The docs' reference tables, generated from the code that defines them (`make docs-generate`).

    python -m tools.docs           write docs/generated/*.md
    python -m tools.docs --check   exit 1, naming the files, when one differs from its source

- settings.md: every setting of the settings model (its variable, `serve` flag, default, allowed
  values and meaning), as `serve --help` lists them;
- cli.md: every command of the argument parser (`cli/parser.py` and the command groups' modules),
  with its usage and arguments;
- metrics.md: every metric the service registers, with its type, labels and help text.

The pages include them (pymdownx.snippets); a test runs `--check`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "generated"
# The default database is an absolute path that depends on where the service runs; the docs say
# where, not one machine's path.
DEFAULT_DATABASE = "`var/official-images.db` in the checkout (see below)"


def header(source: str) -> str:
    return f"<!-- Generated from {source} by `make docs-generate`: edit the source, not this. -->\n"


def cell(text: str) -> str:
    """Text for a Markdown table cell: one line, no column break."""
    return " ".join(text.split()).replace("|", "\\|")


def settings_table() -> str:
    from swr_official_images.cli.config import display_value
    from swr_official_images.settings import DEFAULT_DATABASE_URL, setting_infos

    rows = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    for info in setting_infos():
        name = f"`{info.variable}`" + (f" / `{info.flag}`" if info.flag else "")
        if info.default == DEFAULT_DATABASE_URL:
            default = DEFAULT_DATABASE
        else:
            shown = display_value(info, info.default) if info.default is not None else ""
            default = f"`{shown}`" if shown else "(none)"
        rows.append(f"| {name} | {default} | {cell(info.allowed)} | {cell(info.meaning)} |")
    return header("the settings model (`swr_official_images/settings.py`)") + "\n".join(rows) + "\n"


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                sub.description = sub.description or helps.get(name)
                yield name, sub
                for child, grandchild in subcommands(sub):
                    yield f"{name} {child}", grandchild


def arguments(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.option_strings:
            takes_value = action.nargs != 0 and not isinstance(
                action, argparse.BooleanOptionalAction
            )
            value = f" {action.metavar or action.dest.upper()}" if takes_value else ""
            name = ", ".join(f"`{option}{value}`" for option in action.option_strings)
        else:
            name = f"`{action.metavar or action.dest.upper()}`"
            if action.nargs == "?":
                name += " (optional)"
        if action.choices and not isinstance(action, argparse.BooleanOptionalAction):
            name += " (" + ", ".join(f"`{choice}`" for choice in action.choices) + ")"
        rows.append(f"| {name} | {cell(action.help or '')} |")
    return rows


def cli_reference() -> str:
    from swr_official_images.cli.parser import build_parser
    from swr_official_images.settings import DEFAULT_DATABASE_URL

    parser = build_parser()
    description = (parser.description or "").replace(
        f"(default: {DEFAULT_DATABASE_URL})", "(see Configuration)"
    )
    parts = [
        header("the argument parser (`swr_official_images/cli/`)"),
        f"### `{parser.prog}`\n\n{description}\n",
        "| argument | meaning |\n|---|---|\n" + "\n".join(arguments(parser)) + "\n",
    ]
    for name, sub in subcommands(parser):
        usage = " ".join(sub.format_usage().split())
        usage = usage.removeprefix("usage: ")
        has_subcommands = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
        text = f"### `{name}`\n\n{cell(sub.description or '')}\n\n```text\n{usage}\n```\n"
        rows = arguments(sub)
        if rows and not has_subcommands:
            text += "\n| argument | meaning |\n|---|---|\n" + "\n".join(rows) + "\n"
        parts.append(text)
    return "\n".join(parts)


def metrics_table() -> str:
    from swr_official_images.ops.metrics import METRICS

    rows = ["| metric | type | labels | what |", "|---|---|---|---|"]
    for metric in METRICS:
        name = metric.name + ("_total" if metric.kind == "counter" else "")
        labels = ", ".join(f"`{label}`" for label in metric.labels)
        rows.append(f"| `{name}` | {metric.kind} | {labels} | {cell(metric.documentation)} |")
    return header("the metric definitions (`swr_official_images/ops/metrics.py`)") + (
        "\n".join(rows) + "\n"
    )


GENERATED: dict[str, Callable[[], str]] = {
    "settings.md": settings_table,
    "cli.md": cli_reference,
    "metrics.md": metrics_table,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    stale = []
    for name, make in GENERATED.items():
        path = OUTPUT / name
        text = make()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(
            "docs/generated/ differs from its sources: "
            + ", ".join(stale)
            + " (run `make docs-generate`)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
