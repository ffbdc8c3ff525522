"""`.ci/run`: what CI runs, observed through a stand-in `make` that records its targets."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_postgres

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ci_runs_lint_docs_and_the_tests_with_postgresql_required(tmp_path):
    require_postgres()  # otherwise .ci/run would spend its time trying to start one
    calls = tmp_path / "calls"
    stand_in = tmp_path / "bin" / "make"
    stand_in.parent.mkdir()
    stand_in.write_text(
        f'#!/bin/sh\necho "$* SWR_TEST_REQUIRE_POSTGRES=$SWR_TEST_REQUIRE_POSTGRES" >> "{calls}"\n',
        encoding="utf-8",
    )
    stand_in.chmod(0o755)
    # Packages count as installed: the test must not install any.
    dpkg = stand_in.parent / "dpkg"
    dpkg.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    dpkg.chmod(0o755)
    env = {**os.environ, "PATH": f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}"}

    subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, check=True, timeout=60)

    assert calls.read_text(encoding="utf-8").splitlines() == [
        "lint SWR_TEST_REQUIRE_POSTGRES=1",
        "docs SWR_TEST_REQUIRE_POSTGRES=1",
        "test SWR_TEST_REQUIRE_POSTGRES=1",
    ]
