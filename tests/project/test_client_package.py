"""The client as its users get it: `make client-dist` builds an sdist and a wheel whose version
is the spec's info.version, and the wheel, installed into a fresh virtualenv, runs every snippet
of its README against a live server, sync and async."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.http.test_aksk import create_key
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


@dataclass
class ClientVenv:
    python: Path
    env: dict[str, str]

    def run(self, program: str, directory: Path, **env: str) -> subprocess.CompletedProcess[str]:
        """Run a program with the virtualenv's Python, isolated from this checkout."""
        script = directory / "program.py"
        script.write_text(program, encoding="utf-8")
        return subprocess.run(
            [str(self.python), "-I", str(script)],
            cwd=directory,
            env=self.env | env,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(scope="module")
def client_venv(dist, tmp_path_factory) -> ClientVenv:
    """A fresh virtualenv with the wheel installed by the README's own command, and nothing else
    of this project's."""
    venv = tmp_path_factory.mktemp("client") / "venv"
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
    }
    [install] = code_blocks(CLIENT_README.read_text(encoding="utf-8"), "sh")
    result = subprocess.run(
        ["sh", "-ec", install], cwd=dist, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return ClientVenv(venv / "bin" / "python", env)


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_wheel_in_a_fresh_virtualenv_runs_its_readme(
    client_venv, private_server, tmp_path, catalog_file
):
    catalog = [r["name"] for r in json.loads(catalog_file.read_text(encoding="utf-8"))]
    access_key, secret_key = create_key(private_server.settings.database_url, "readme")
    readme = CLIENT_README.read_text(encoding="utf-8")
    program = "\n\n".join(code_blocks(readme, "python"))
    result = client_venv.run(
        substitute(program, {DOCUMENTED_URL: private_server.base_url}),
        tmp_path,
        SWR_TOKEN=private_server.tokens.valid,
        SWR_ACCESS_KEY=access_key,
        SWR_SECRET_ACCESS_KEY=secret_key,
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
        "signed library/nginx",
    ]:
        assert expected in lines, output
    [invalid] = [line for line in lines if line.startswith("Not-A-Valid-Name ")]
    assert invalid.startswith("Not-A-Valid-Name 400 invalid name (SVCSTG.SWR.4000014): "), output
    assert "Unset object" not in output
    # The package ran from the virtualenv, not from this checkout.
    assert str(ROOT) not in output


SIGNED = """
import httpx

from swr_official_images_client import Client, SdkHmacSha256Auth
from swr_official_images_client.api.official_images import list_official_images, show_official_image

try:
    import swr_official_images
except ModuleNotFoundError:
    print("no server package")
else:
    print("server package at", swr_official_images.__file__)

base_url = "http://127.0.0.1:8080"
signer = SdkHmacSha256Auth("{ak}", "{sk}")
with Client(base_url=base_url, httpx_args={{"auth": signer}}) as client:
    # The client sends the name's "$" as %24.
    image = show_official_image.sync_detailed("official", "library$nginx", client=client)
    page = list_official_images.sync_detailed("official", client=client, name="ngin", limit=5)
print("image", int(image.status_code), image.parsed.name)
print("list", int(page.status_code), [found.name for found in page.parsed.repos])
wrong = SdkHmacSha256Auth("{ak}", "{sk}"[::-1])
nginx = base_url + "/v2/manage/dockerhub/namespaces/official/repos/nginx"
print("wrong secret", httpx.get(nginx, auth=wrong).status_code)
"""


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_wheel_alone_signs_requests_a_server_accepts(client_venv, private_server, tmp_path):
    access_key, secret_key = create_key(private_server.settings.database_url, "wheel")
    program = substitute(
        SIGNED.format(ak=access_key, sk=secret_key), {DOCUMENTED_URL: private_server.base_url}
    )
    result = client_venv.run(program, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert result.stdout.splitlines() == [
        # Nothing of the server's is installed beside the client.
        "no server package",
        "image 200 library/nginx",
        "list 200 ['nginx']",
        "wrong secret 401",
    ], output
