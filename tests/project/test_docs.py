"""The docs agree with what they describe: generated tables with their sources, the architecture
page with the package, links with their targets, the chart with the bench's figures. (Building
the site and reading it in a browser: tests/project/test_browser.py. Running every snippet:
tests/project/test_readme.py.)"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from bench.__main__ import build_parser
from bench.chart import render, scale_top
from tests.support.snippets import DOCS, README, ROOT, documents, name
from tools import docs as generator

PACKAGE = ROOT / "swr_official_images"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
INCLUDE = re.compile(r'^--8<-- "([^"]+)"$', re.MULTILINE)


def test_generated_tables_match_their_sources(capsys):
    assert generator.main(["--check"]) == 0, capsys.readouterr().err


def test_every_generated_table_is_included_by_a_page():
    included = {
        target for page in DOCS.glob("*.md") for target in INCLUDE.findall(page.read_text())
    }
    for generated in generator.GENERATED:
        assert f"docs/generated/{generated}" in included, generated


def test_the_readme_is_the_door_not_the_house():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 120, f"README.md has {len(lines)} lines: move the detail into docs/"


def package_layout() -> set[str]:
    """The paths the architecture page's package block lists, folders ending in '/'."""
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    block = page.split("## The package", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    assert lines[0] == "swr_official_images/", lines[0]
    listed, stack = set(), []
    for line in lines[1:]:
        depth = (len(line) - len(line.lstrip(" "))) // 2 - 1
        entry = line.split()[0]
        stack[depth:] = [entry]
        listed.add("".join(stack))
    return listed


def test_the_architecture_page_lists_exactly_the_package_modules():
    """Every module of the package, and nothing that is not there (Alembic's folder as one)."""
    modules = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.relative_to(PACKAGE).parts
    }
    listed = package_layout()
    assert sorted(m for m in modules if m not in listed) == [], "modules the page leaves out"
    listed_modules = {entry for entry in listed if entry.endswith(".py")}
    assert sorted(listed_modules - modules) == [], "modules the page lists that are gone"
    for entry in listed - listed_modules:
        assert (PACKAGE / entry).exists(), entry


def slug(heading: str) -> str:
    """Python-Markdown's toc slug of a heading's text."""
    text = re.sub(r"[`*]", "", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    for included in INCLUDE.findall(text):
        text += "\n" + (ROOT / included).read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```$", "", text, flags=re.MULTILINE | re.DOTALL)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("document", documents(), ids=name)
def test_links_resolve(document):
    """A relative link names a file that is there, and an anchor a heading of its page. The
    site's build checks the pages too (strict); this checks the README's links as well, without
    a build."""
    text = re.sub(r"^```.*?^```$", "", document.read_text(encoding="utf-8"), flags=re.M | re.S)
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        if document.parent == DOCS and path == "reference/index.html":
            continue  # `make docs` renders it into the site
        resolved = (document.parent / path).resolve() if path else document
        assert resolved.is_file(), f"{name(document)}: {target}"
        if anchor:
            assert resolved.suffix == ".md", f"{name(document)}: {target}"
            assert anchor in anchors(resolved), f"{name(document)}: no heading for {target}"


def test_the_navigation_holds_every_page_once():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = [next(iter(entry.values())) for entry in config["nav"]]
    assert sorted(nav) == sorted(p.name for p in DOCS.glob("*.md")), nav
    assert len(set(nav)) == len(nav)
    assert config["strict"] is True and config["theme"]["font"] is False


def bars(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)  # our own file
    return [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.get("class") == "bar"]


def comparison(summary: dict[str, dict[str, dict[str, object]]]) -> dict[str, object]:
    return {
        "options": {"rounds": 3, "duration": 5},
        "versions": {"fastapi": "0.165.0"},
        "frameworks": [{"store": "sqlite", "images": 100_000, "summary": summary}],
    }


def figures(rate: float, p99: float) -> dict[str, object]:
    return {
        "requests_per_second_vs_fastapi": rate,
        "requests_per_second_vs_fastapi_range": [rate * 0.9, rate * 1.1],
        "p99_ms_vs_fastapi": p99,
        "p99_ms_vs_fastapi_range": [p99 * 0.8, p99 * 1.2],
    }


def test_the_chart_draws_each_ratio_to_scale():
    summary = {
        "hot": {"swr-official-images": figures(2.0, 0.2), "fastapi": figures(1, 1)},
        "page": {"swr-official-images": figures(1.4, 0.5), "fastapi": figures(1, 1)},
    }
    drawn = bars(render(comparison(summary)))
    assert len(drawn) == 2 * 2 * 2  # two panels, two workloads, two variants
    rates = drawn[:4]
    assert [(b.get("data-workload"), b.get("data-variant")) for b in rates] == [
        ("hot", "swr-official-images"),
        ("hot", "fastapi"),
        ("page", "swr-official-images"),
        ("page", "fastapi"),
    ]
    top = scale_top(summary, "requests_per_second_vs_fastapi")
    assert top == 2.5  # above the highest whisker, 2.2
    heights = [float(b.get("height")) for b in rates]
    for bar, height in zip(rates, heights, strict=True):
        assert height / heights[1] == pytest.approx(float(bar.get("data-value")), abs=0.01)


def test_the_chart_refuses_a_run_without_the_comparison():
    with pytest.raises(ValueError, match="no framework comparison"):
        render({"frameworks": []})


def test_the_committed_chart_shows_every_workload_and_variant():
    drawn = bars((DOCS / "img" / "frameworks.svg").read_text(encoding="utf-8"))
    pairs = {(b.get("data-workload"), b.get("data-variant")) for b in drawn}
    workloads = {w for w, _ in pairs}
    variants = {v for _, v in pairs}
    assert workloads == {"hot", "random", "404", "401", "page"}, workloads
    assert {"swr-official-images", "fastapi", "starlette", "connexion"} <= variants
    assert len(drawn) == 2 * len(pairs)


# `make bench BENCH_ARGS='...'` as the pages write it, perhaps across lines; `$(NAME)` is one of
# the Makefile's presets.
BENCH_COMMAND = re.compile(r"make\s+bench\s+BENCH_ARGS='([^']*)'")
MAKE_VARIABLE = re.compile(r"^(BENCH_[A-Z]+) = (.*)$", re.MULTILINE)


def test_every_bench_command_in_the_docs_takes_the_options_it_gives():
    """A benchmark takes minutes: the commands the pages quote are not run here, but each is
    read by the bench's own parser, presets expanded as make expands them."""
    presets = dict(MAKE_VARIABLE.findall((ROOT / "Makefile").read_text(encoding="utf-8")))
    commands = [
        (page.name, arguments)
        for page in [README, *DOCS.glob("*.md")]
        for arguments in BENCH_COMMAND.findall(page.read_text(encoding="utf-8"))
    ]
    assert len(commands) >= 5, commands
    parser = build_parser()
    for page, arguments in commands:
        expanded = re.sub(r"\$\((BENCH_[A-Z]+)\)", lambda m: presets[m.group(1)], arguments)
        try:
            parser.parse_args(expanded.split())
        except SystemExit:
            pytest.fail(f"{page}: make bench BENCH_ARGS='{arguments}' is refused by the bench")
