"""The committed client is exactly what the pinned generator makes of openapi.yaml."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_check_generated_passes():
    result = subprocess.run(
        ["make", "-s", "check-generated"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
