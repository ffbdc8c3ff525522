"""The framework comparison as an SVG chart, from the JSON `make bench` writes.

    python -m bench.chart bench/results/latest.json docs/img/frameworks.svg

Two panels, one bar per variant and workload: requests per second and p99 latency, each as a
ratio to FastAPI's (the median of the rounds' ratios, a whisker over their range). Ratios, not
absolute figures: on a shared machine the absolute figures move from run to run, the ratios of
servers measured side by side much less. The SVG is written directly: no plotting library.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

REFERENCE = "fastapi"
# This service first and in the strongest colour; then the baselines; revisions last.
COLOURS = {
    "swr-official-images": "#1f6feb",
    "fastapi": "#8c959f",
    "fastapi-lean": "#57606a",
    "starlette": "#d4a72c",
    "connexion": "#bf6a3f",
}
REVISION_COLOURS = ("#6e40c9", "#2da44e", "#cf222e")
WORKLOAD_LABELS = {"random": "random 100k"}
FONT = "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"

PANELS = (
    ("requests_per_second_vs_fastapi", "Requests per second, ratio to FastAPI (higher is better)"),
    ("p99_ms_vs_fastapi", "p99 latency, ratio to FastAPI (lower is better)"),
)
WIDTH = 860
PANEL_HEIGHT = 250
GROUP_GAP = 34
LEFT = 60


def colour(variant: str, index: int) -> str:
    return COLOURS.get(variant) or REVISION_COLOURS[index % len(REVISION_COLOURS)]


def ordered_variants(summary: dict[str, dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for variants in summary.values():
        seen.extend(v for v in variants if v not in seen)
    known = [v for v in COLOURS if v in seen]
    return known + [v for v in seen if v not in COLOURS]


def scale_top(summary: dict[str, dict[str, Any]], figure: str) -> float:
    """The panel's top: above every bar and whisker, on a half step."""
    highest = 1.0
    for variants in summary.values():
        for figures in variants.values():
            highest = max(highest, figures[figure], *figures[f"{figure}_range"])
    return (int(highest * 2) + 1) / 2


def caption(document: dict[str, Any], comparison: dict[str, Any]) -> str:
    options = document.get("options", {})
    versions = document.get("versions", {})
    frameworks = ", ".join(
        f"{name} {version}"
        for name, version in versions.items()
        if name in ("fastapi", "starlette", "connexion", "uvicorn") and version
    )
    rounds, duration = options.get("rounds"), options.get("duration")
    return (
        f"{comparison['store']}, {comparison['images']:,} images, {rounds} rounds of "
        f"{duration} s, finished {document.get('finished_at', '?')}; {frameworks}"
    )


def panel(
    summary: dict[str, dict[str, Any]], variants: list[str], figure: str, title: str, top_y: float
) -> list[str]:
    top = scale_top(summary, figure)
    plot_top, plot_height = top_y + 30, PANEL_HEIGHT - 70
    bottom = plot_top + plot_height

    def y(value: float) -> float:
        return bottom - value / top * plot_height

    parts = [
        f'<text x="{LEFT - 40}" y="{top_y + 16}" font-size="14" font-weight="600">{title}</text>'
    ]
    step = 0.5 if top <= 3 else 1.0
    tick = 0.0
    while tick <= top + 1e-9:
        # The line at 1 is FastAPI's figure: solid; the others dotted.
        line = 'stroke="#57606a"' if tick == 1 else 'stroke="#d0d7de" stroke-dasharray="2 3"'
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - 20}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" {line}/>'
        )
        parts.append(
            f'<text x="{LEFT - 8}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#57606a">{tick:g}</text>'
        )
        tick += step
    # The bars share the width left once the groups' gaps are taken out.
    bars = sum(len(by_variant) for by_variant in summary.values())
    bar_width = min(40, (WIDTH - LEFT - 40 - GROUP_GAP * len(summary)) // max(bars, 1) - 2)
    x = LEFT + 20
    for workload, by_variant in summary.items():
        group_start = x
        for index, variant in enumerate(variants):
            if variant not in by_variant:
                continue
            figures = by_variant[variant]
            value = figures[figure]
            low, high = figures[f"{figure}_range"]
            parts.append(
                f'<rect class="bar" data-workload="{escape(workload)}" '
                f'data-variant="{escape(variant)}" data-value="{value:.3f}" x="{x}" '
                f'y="{y(value):.1f}" width="{bar_width}" height="{bottom - y(value):.1f}" '
                f'fill="{colour(variant, index)}"><title>{escape(variant)}, {escape(workload)}: '
                f"{value:.2f} (rounds {low:.2f} to {high:.2f})</title></rect>"
            )
            middle = x + bar_width / 2
            parts.append(
                f'<line x1="{middle}" x2="{middle}" y1="{y(high):.1f}" y2="{y(low):.1f}" '
                'stroke="#24292f" stroke-width="1"/>'
            )
            parts.append(
                f'<text x="{middle}" y="{y(max(value, high)) - 4:.1f}" text-anchor="middle" '
                f'font-size="10" fill="#24292f">{value:.2f}</text>'
            )
            x += bar_width + 2
        label = WORKLOAD_LABELS.get(workload, workload)
        parts.append(
            f'<text x="{(group_start + x) / 2:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" '
            f'font-size="12">{escape(label)}</text>'
        )
        x += GROUP_GAP
    return parts


def render(document: dict[str, Any]) -> str:
    """The SVG of the first framework comparison in a `make bench` JSON document."""
    comparisons = document.get("frameworks") or []
    if not comparisons:
        raise ValueError("the document has no framework comparison: run make bench with frameworks")
    comparison = comparisons[0]
    summary = comparison["summary"]
    variants = ordered_variants(summary)
    height = 60 + PANEL_HEIGHT * len(PANELS) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" fill="#24292f">',
        "<title>swr-official-images against FastAPI, Starlette and Connexion</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
        '<text x="20" y="24" font-size="16" font-weight="600">The lookup and the list page, '
        "against the same endpoints in other frameworks</text>",
        f'<text x="20" y="44" font-size="11" fill="#57606a">{escape(caption(document, comparison))}'
        "</text>",
    ]
    for index, (figure, title) in enumerate(PANELS):
        parts += panel(summary, variants, figure, title, 60 + index * PANEL_HEIGHT)
    x = 20
    legend_y = height - 22
    for index, variant in enumerate(variants):
        parts.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" '
            f'fill="{colour(variant, index)}"/>'
        )
        parts.append(f'<text x="{x + 17}" y="{legend_y}" font-size="12">{escape(variant)}</text>')
        x += 30 + 7 * len(variant)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chart", description=__doc__)
    parser.add_argument("results", type=Path, help="the JSON of a make bench run")
    parser.add_argument("output", type=Path, help="the SVG to write")
    args = parser.parse_args(argv)
    try:
        svg = render(json.loads(args.results.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {args.results}: {error}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(svg, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
