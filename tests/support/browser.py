"""Debian's chromium driven by Playwright: no browser download, a fresh profile per test.

Missing packages skip the browser tests with the command that installs them; with
SWR_TEST_REQUIRE_BROWSER=1 (set by .ci/run, which installs them) they fail instead.
Screenshots go to test-results/browser/ (or SWR_TEST_OUTPUT), one folder per test.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SWR_TEST_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("SWR_TEST_REQUIRE_BROWSER") == "1"
OUTPUT = Path(os.environ.get("SWR_TEST_OUTPUT", ROOT / "test-results")) / "browser"
# Headless, and quiet: nothing but the pages under test reaches the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return (
            f"no chromium at {CHROMIUM}: install Debian's with "
            "`apt-get install -y chromium fonts-wqy-zenhei` (as root; .ci/run does)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is missing: `make install`"
    return None


def require_browser() -> None:
    missing = browser_missing()
    if missing is None:
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"SWR_TEST_REQUIRE_BROWSER=1 but {missing}")
    pytest.skip(missing)


def output_folder(request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    folder = OUTPUT / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
