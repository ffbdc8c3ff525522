"""The Python snippets of the top README, run as they are written against a live server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.snippets import code_blocks, substitute

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_readme_python_snippets_run(live_server, tmp_path):
    blocks = code_blocks((ROOT / "README.md").read_text(encoding="utf-8"), "python")
    assert blocks, "README.md has no Python snippet"
    program = substitute(
        "\n\n".join(blocks),
        {
            "http://127.0.0.1:8080": live_server.base_url,
            '"swr_…"': repr(live_server.tokens.valid),
        },
    )
    script = tmp_path / "readme.py"
    script.write_text(program, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = result.stdout.splitlines()
    assert "nginx 123123123 2017-10-16 21:33:44" in lines, output
    assert any("name='library/nginx'" in line for line in lines), output
