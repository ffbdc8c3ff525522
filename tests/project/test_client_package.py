"""The client as its users get it: `make client-dist` builds an sdist and a wheel whose version
is the spec's info.version, and the wheel, installed into a fresh virtualenv, runs every snippet
of its README against a live server, sync and async."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.snippets import code_blocks, substitute

pytestmark = pytest.mark.slow  # builds the client and installs it into a fresh virtualenv

ROOT = Path(__file__).resolve().parents[2]
CLIENT_README = ROOT / "generated_client" / "README.md"
DOCUMENTED_URL = "http://127.0.0.1:8080"


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        ["make", "-s", "client-dist", f"DIST={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_client_dist_builds_an_sdist_and_a_wheel_of_the_spec_version(dist, spec):
    version = spec["info"]["version"]
    wheel = dist / f"swr_official_images_client-{version}-py3-none-any.whl"
    assert sorted(p.name for p in dist.iterdir()) == sorted(
        [wheel.name, f"swr_official_images_client-{version}.tar.gz"]
    )
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"swr_official_images_client-{version}.dist-info/METADATA")
        names = archive.namelist()
    assert f"Version: {version}".encode() in metadata
    # The README is the package's long description, as PyPI would show it.
    assert b'auth_header_name="X-Auth-Token"' in metadata
    assert "swr_official_images_client/py.typed" in names


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_wheel_in_a_fresh_virtualenv_runs_its_readme(dist, live_server, tmp_path, catalog_file):
    catalog = [r["name"] for r in json.loads(catalog_file.read_text(encoding="utf-8"))]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }
    env |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        # httpx and attrs at the versions the suite is pinned to.
        "PIP_CONSTRAINT": str(ROOT / "constraints.txt"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "SWR_TOKEN": live_server.tokens.valid,
    }
    readme = CLIENT_README.read_text(encoding="utf-8")

    [install] = code_blocks(readme, "sh")
    result = subprocess.run(
        ["sh", "-ec", install], cwd=dist, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr

    program = "\n\n".join(code_blocks(readme, "python"))
    script = tmp_path / "readme.py"
    script.write_text(substitute(program, {DOCUMENTED_URL: live_server.base_url}))
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-I", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = result.stdout.splitlines()
    for expected in [
        "official nginx 123123123 2017-10-16 21:33:44",
        "async official nginx",
        "async official library/nginx",
        "nginx 200 found nginx",
        "no-such-image 404 no such image (SVCSTG.SWR.4040010)",
        "stranger 401 the token is missing, unknown, expired or revoked",
        "patient nginx",
        "patient async library/nginx",
        f"listed {len(catalog)} from {min(catalog)}",
        f"nested {[name for name in sorted(catalog) if name.startswith('library/')]}",
        "last page's next_marker: (none)",
        "revalidated 304 304 None b''",
        "head 200 404 b''",
    ]:
        assert expected in lines, output
    [invalid] = [line for line in lines if line.startswith("Not-A-Valid-Name ")]
    assert invalid.startswith("Not-A-Valid-Name 400 invalid name (SVCSTG.SWR.4000014): "), output
    assert "Unset object" not in output
    # The package ran from the virtualenv, not from this checkout.
    assert str(ROOT) not in output
