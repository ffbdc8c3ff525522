"""The snippets of the README and of every docs page, run as a new user runs them: against what
`make serve` serves (the bundled sample catalog, the development token it prints), each
document's Python in a fresh directory, and the curl lines with the answers they show."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from swr_official_images.catalog.sample import sample_catalog
from tests.conftest import fresh_database, listening_port, require_postgres
from tests.support.snippets import blocks_of, code_blocks, documents, name, substitute

pytestmark = pytest.mark.slow  # runs `make serve` as its own process

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
TOKEN = re.compile(r"swr_[A-Za-z0-9_-]{43}")


def wait_until(value: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while (result := value()) is None:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return result


@dataclass
class MadeServer:
    base_url: str
    database_url: str
    token: str
    log: Path


@pytest.fixture(scope="module")
def make_serve(tmp_path_factory) -> Iterator[MadeServer]:
    """`make serve` as the README says to run it, in the checkout, on a database of its own and
    a port it picks; the token is the one it prints."""
    directory = tmp_path_factory.mktemp("make-serve")
    database_url = f"sqlite:///{directory}/official-images.db"
    env = {**os.environ, "SWR_DATABASE_URL": database_url, "SWR_PORT": "0"}
    stdout, stderr = directory / "serve.out", directory / "serve.err"
    # -o: never reinstall .venv from inside a test, whatever the timestamps say.
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "serve"]
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
        )

    def printed_token() -> tuple[str, str] | None:
        logs = stdout.read_text() + stderr.read_text()
        assert process.poll() is None, logs
        match, port = TOKEN.search(stderr.read_text()), listening_port(logs)
        base_url = f"http://127.0.0.1:{port}"
        with contextlib.suppress(httpx.TransportError):
            if match and port and httpx.get(base_url + "/readyz").status_code == 200:
                return base_url, match.group()
        return None

    try:
        base_url, token = wait_until(printed_token, timeout=60, what="make serve to start")
        yield MadeServer(base_url, database_url, token, stdout)
    finally:
        # make and the server it started: the process group this test created.
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def sh_blocks() -> list[str]:
    return [block for _, block in blocks_of("sh")]


def run_sh(block: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-ec", block],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def docs_key_create(database_url: str) -> str:
    """The docs' `key create` line, run as written from the checkout; its stdout."""
    [block] = [b for b in sh_blocks() if " key create " in b]
    result = run_sh(block, {"SWR_DATABASE_URL": database_url})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_every_command_line_of_the_docs_is_in_a_form_that_runs():
    """The command is in .venv/bin, not on PATH: every line that runs it says so."""
    lines = [line for block in sh_blocks() for line in block.splitlines()]
    for document in documents():
        lines += re.findall(r"^    (\S.*)$", document.read_text(encoding="utf-8"), re.MULTILINE)
    commands = [line for line in lines if re.search(r"(^|\s)(\S*/)?swr-official-images\s", line)]
    assert commands, "the docs show no command line"
    for line in commands:
        assert line.startswith(".venv/bin/swr-official-images "), line
    version = run_sh(".venv/bin/swr-official-images --version", {})
    assert version.returncode == 0 and version.stdout.startswith("swr-official-images "), version


def test_make_serve_serves_the_sample_catalog_with_the_token_it_prints(make_serve):
    with httpx.Client(
        base_url=make_serve.base_url, headers={"X-Auth-Token": make_serve.token}
    ) as client:
        for record in sample_catalog():
            path = f"/v2/manage/dockerhub/namespaces/{record.namespace}/repos/"
            response = client.get(path + record.name.replace("/", "$"))
            assert response.status_code == 200, (record.name, response.text)


def test_postgresql_block_runs_as_written(make_serve, tmp_path):
    require_postgres()
    [block] = [b for b in sh_blocks() if "postgresql+psycopg://" in b]
    with fresh_database("postgresql", tmp_path) as url:
        program = substitute(
            block,
            {
                "postgresql+psycopg://swr:secret@db.internal:5432/swr": f"'{url}'",
                "catalog.jsonl": str(tmp_path / "catalog.jsonl"),
                "--workers 4": "--workers 2",
            },
        )
        # The first line exports the store the rest started from: the one make serve filled.
        env = {**os.environ, "SWR_DATABASE_URL": make_serve.database_url, "SWR_PORT": "0"}
        out = (tmp_path / "block.out").open("w")
        err = (tmp_path / "block.err").open("w")
        process = subprocess.Popen(
            ["sh", "-ec", program],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )

        def ready() -> str | None:
            logs = (tmp_path / "block.out").read_text() + (tmp_path / "block.err").read_text()
            assert process.poll() is None, logs
            port = listening_port(logs)
            base_url = f"http://127.0.0.1:{port}"
            with contextlib.suppress(httpx.TransportError):
                if port and httpx.get(base_url + "/readyz").status_code == 200:
                    return base_url
            return None

        try:
            base_url = wait_until(ready, timeout=90, what="the PostgreSQL block's servers")
            token = TOKEN.search((tmp_path / "block.out").read_text())
            assert token, "token create printed no token"
            image = httpx.get(
                base_url + "/v2/manage/dockerhub/namespaces/official/repos/library$nginx",
                headers={"X-Auth-Token": token.group()},
            )
            assert image.status_code == 200 and image.json()["name"] == "library/nginx"
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
            out.close()
            err.close()


# A curl block, and the answer shown right after it when there is one.
CURL = re.compile(r"^```sh\n(curl .*?)^```\n(?:\n```json\n(.*?)^```$)?", re.M | re.S)
CURLS = [
    pytest.param(curl, answer, id=f"{name(document)}-{n}")
    for document in documents()
    for n, (curl, answer) in enumerate(CURL.findall(document.read_text(encoding="utf-8")))
]


@pytest.mark.parametrize(("curl", "answer"), CURLS)
def test_curl_lines_answer_what_the_pages_show(make_serve, curl, answer):
    command = substitute(
        curl,
        {"http://127.0.0.1:8080": make_serve.base_url, "swr_…": make_serve.token},
    )
    result = subprocess.run(
        ["sh", "-ec", command.rstrip() + " --fail --silent --show-error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(result.stdout)
    if answer:
        assert body == json.loads(answer), result.stdout
    else:
        assert body, result.stdout


def client_page_printed(lines: list[str], output: str) -> None:
    assert "nginx 123123123 2017-10-16 21:33:44" in lines, output
    assert any("name='library/nginx'" in line for line in lines), output
    # The walk through all pages met every image `make serve` loaded, and the prefix the nested.
    names = sorted(record.name for record in sample_catalog())
    assert f"{len(names)} images: {names[0]} … {names[-1]}" in lines, output
    nested = [name for name in names if name.startswith("library/")]
    assert nested and str(nested) in lines, output
    # Huawei's SDK, signing with the key: the image, then a 404 raised with the server's body.
    assert "123123123" in lines, output
    assert any(line.startswith("404 SVCSTG.SWR.4040010 Image does not exist. ") for line in lines)
    # The generated client signing through SdkHmacSha256Auth (its sync() gives the model).
    assert sum("name='library/nginx'" in line for line in lines) == 2, output


def readme_printed(lines: list[str], output: str) -> None:
    assert "nginx 123123123 2017-10-16 21:33:44" in lines, output


# What a document's Python prints, where it prints something; the rest assert for themselves.
PRINTED = {"README.md": readme_printed, "docs/client.md": client_page_printed}
PYTHON_DOCUMENTS = [d for d in documents() if code_blocks(d.read_text(), "python")]


def test_the_printed_checks_name_documents_with_python():
    assert set(PRINTED) <= {name(d) for d in PYTHON_DOCUMENTS}


@pytest.mark.parametrize("document", PYTHON_DOCUMENTS, ids=name)
def test_python_snippets_run(make_serve, tmp_path, document):
    """A document's Python blocks, in order, as one program: a block may use an earlier one's."""
    blocks = code_blocks(document.read_text(encoding="utf-8"), "python")
    program = "\n\n".join(blocks)
    replacements = {"http://127.0.0.1:8080": make_serve.base_url, '"swr_…"': repr(make_serve.token)}
    if '"AK…"' in program:
        access_key_id, secret = docs_key_create(make_serve.database_url).split()
        replacements |= {'"AK…"': repr(access_key_id), '"SK…"': repr(secret)}
    replacements = {old: new for old, new in replacements.items() if old in program}
    assert "http://127.0.0.1:8080" in replacements, "the snippets call no server"
    script = tmp_path / "snippets.py"
    script.write_text(substitute(program, replacements), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    if check := PRINTED.get(name(document)):
        check(result.stdout.splitlines(), output)


def test_access_line_has_the_fields_in_the_order_serve_writes_them(make_serve):
    [shown] = [b for _, b in blocks_of("json") if '"logger": "access"' in b]
    httpx.get(
        make_serve.base_url + "/v2/manage/dockerhub/namespaces/official/repos/nginx",
        headers={"X-Auth-Token": make_serve.token},
    )

    def access_line() -> dict[str, object] | None:
        for line in make_serve.log.read_text(encoding="utf-8").splitlines():
            if not line.startswith("{"):
                continue  # make's own echo of the command
            record = json.loads(line)
            if record.get("operation") == "show_official_image" and record.get("status") == 200:
                return record
        return None

    written = wait_until(access_line, timeout=10, what="an access line")
    assert list(json.loads(shown)) == list(written)
