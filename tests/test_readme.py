"""The top README's snippets, run as they are written against a live server: its Python, and
the curl line with the answer it shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.snippets import code_blocks, substitute

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_readme_curl_line_answers_what_the_readme_shows(live_server):
    markdown = README.read_text(encoding="utf-8")
    [curl] = [block for block in code_blocks(markdown, "sh") if block.startswith("curl ")]
    shown = json.loads(code_blocks(markdown, "json")[0])
    command = substitute(
        curl,
        {
            "http://127.0.0.1:8080": live_server.base_url,
            "swr_…": live_server.tokens.valid,
        },
    )
    result = subprocess.run(
        ["sh", "-ec", command.rstrip() + " --fail --silent --show-error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == shown, result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_readme_python_snippets_run(live_server, tmp_path, catalog_file):
    blocks = code_blocks(README.read_text(encoding="utf-8"), "python")
    assert blocks, "README.md has no Python snippet"
    key = run_cli(live_server.settings.database_url, "key", "create", "readme")
    assert key.code == 0, key.err
    access_key_id, secret = key.out.split()
    program = substitute(
        "\n\n".join(blocks),
        {
            "http://127.0.0.1:8080": live_server.base_url,
            '"swr_…"': repr(live_server.tokens.valid),
            '"AK…"': repr(access_key_id),
            '"SK…"': repr(secret),
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
    # The walk through all pages met every image of the catalog, and the prefix the nested one.
    names = sorted(r["name"] for r in json.loads(catalog_file.read_text(encoding="utf-8")))
    assert f"{len(names)} images: {names[0]} … {names[-1]}" in lines, output
    assert "['library/nginx']" in lines, output
    # Huawei's SDK, signing with the key: the image, then a 404 raised with the server's body.
    assert "123123123" in lines, output
    assert any(line.startswith("404 SVCSTG.SWR.4040010 Image does not exist. ") for line in lines)
    # The generated client signing through SdkHmacSha256Auth (its sync() gives the model).
    assert sum("name='library/nginx'" in line for line in lines) == 2, output
