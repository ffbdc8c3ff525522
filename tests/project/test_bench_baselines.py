"""The benchmark's baselines (bench/baselines/) build, serve the service's database, and answer
as the service does: what `make bench` checks before it measures, here without any timing."""

from __future__ import annotations

import argparse
import os
import re
import time

import httpx
import pytest

from bench import BenchError
from bench.frameworks import (
    VARIANTS,
    Probes,
    add_framework_options,
    busy_loop,
    check_agreement,
    chosen_variants,
    framework_settings,
    serving_variants,
    unknown_token,
)
from bench.lookup_bench import add_lookup_options
from bench.options import add_store_options
from bench.service import create_token, process_cpu_seconds
from bench.wrk import parse_result
from tests.conftest import run_cli

IMAGE_PATH = "/v2/manage/dockerhub/namespaces/official/repos/"
LIST_PATH = IMAGE_PATH.rstrip("/")


def probes_of(database_url: str) -> Probes:
    return Probes(
        image_path=IMAGE_PATH + "nginx",
        nested_path=IMAGE_PATH + "library$nginx",
        missing_path=IMAGE_PATH + "no-such-image",
        token=create_token(database_url),
        bad_token=unknown_token(),
        first_page_path=LIST_PATH + "?limit=100",
        page_path=LIST_PATH + "?limit=3&marker=nginx",
    )


@pytest.mark.slow
def test_every_variant_answers_as_the_service(database_url, catalog_file, tmp_path):
    result = run_cli(database_url, "import", str(catalog_file))
    assert result.code == 0, result.err
    probes = probes_of(database_url)
    with serving_variants(database_url, probes, tmp_path) as servers:
        assert list(servers) == list(VARIANTS)
        urls = {name: server.base_url for name, server in servers.items()}
        check_agreement(urls, probes)

        # What they agree on is the service's contract, not a common failure.
        service = urls["swr-official-images"]
        statuses = []
        for _label, path, token in probes.cases():
            headers = {"X-Auth-Token": token} if token else {}
            statuses.append(httpx.get(service + path, headers=headers).status_code)
        assert statuses == [200, 200, 404, 401, 401, 200, 200, 401]
        page = httpx.get(service + probes.page_path, headers={"X-Auth-Token": probes.token})
        assert len(page.json()["repos"]) == 3 and "nextMarker" in page.json(), page.text

        # And the check does compare: FastAPI's own 404 for an unknown path is not the service's.
        elsewhere = {"swr-official-images": service, "fastapi": urls["fastapi"] + "/elsewhere"}
        with pytest.raises(BenchError, match="fastapi answers an image with"):
            check_agreement(elsewhere, probes)


@pytest.mark.slow
def test_the_lean_fastapi_app_refuses_what_the_service_refuses(
    database_url, catalog_file, tmp_path
):
    """The raw-driver reference reads the spec's constraints and the token table as the
    service does: names off the pattern or too long, a limit out of range, a revoked token get
    the service's status and error code (the baselines word only a pattern's refusal alike)."""
    assert run_cli(database_url, "import", str(catalog_file)).code == 0
    created = run_cli(database_url, "token", "create", "revoked")
    assert created.code == 0, created.err
    assert run_cli(database_url, "token", "revoke", "revoked").code == 0
    probes = Probes(
        image_path=IMAGE_PATH + "nginx",
        nested_path=IMAGE_PATH + "a" * 129,
        missing_path=IMAGE_PATH + "no--such__image..",
        token=create_token(database_url),
        bad_token=created.out.strip(),
        first_page_path=LIST_PATH + "?limit=0",
        page_path=LIST_PATH + "?limit=2&name=ng",
    )
    variants = chosen_variants(["fastapi-lean"], [], tmp_path)
    assert "fastapi-lean" in variants
    with serving_variants(database_url, probes, tmp_path, variants=variants) as servers:
        answers: dict[str, list[tuple[int, object]]] = {}
        for name in ("swr-official-images", "fastapi-lean"):
            answers[name] = []
            for _label, path, token in probes.cases():
                headers = {"X-Auth-Token": token} if token else {}
                response = httpx.get(servers[name].base_url + path, headers=headers)
                body = response.json()
                code = body.get("error_code") if "error_code" in body else len(body)
                answers[name].append((response.status_code, code))
    assert [status for status, _ in answers["swr-official-images"]] == [
        200, 400, 400, 401, 401, 400, 200, 401
    ]  # fmt: skip
    assert answers["fastapi-lean"] == answers["swr-official-images"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("revision", "package"),
    # Today's tree, and one from before the package was renamed from `server`.
    [("HEAD", "swr_official_images"), ("4d4f532", "server")],
)
def test_a_revision_of_the_project_serves_as_one_more_variant(
    database_url, catalog_file, tmp_path, revision, package
):
    """`--revisions`: the revision's own code serves, not the checkout's."""
    assert run_cli(database_url, "import", str(catalog_file)).code == 0
    probes = probes_of(database_url)
    variants = chosen_variants(["fastapi"], [revision], tmp_path)
    assert list(variants) == [
        "swr-official-images", "fastapi", "fastapi-lean", f"swr-official-images@{revision}"
    ]  # fmt: skip
    tree = tmp_path / "revision-0"
    # The command line: one module before it became a package.
    assert (tree / package / "cli.py").is_file() or (
        tree / package / "cli" / "__init__.py"
    ).is_file()
    # Marked, so that its answers show which code served them.
    handlers = tree / package / "handlers.py"
    source = handlers.read_text(encoding="utf-8")
    (line,) = re.findall(
        r"^async def show_official_image\(namespace: str, repository: str\).*:\n", source, re.M
    )
    marker = "    assert repository != 'marked', 'the exported revision serves'\n"
    handlers.write_text(source.replace(line, line + marker), encoding="utf-8")
    with serving_variants(database_url, probes, tmp_path, variants=variants) as servers:
        check_agreement({name: server.base_url for name, server in servers.items()}, probes)
        headers = {"X-Auth-Token": probes.token}
        marked = IMAGE_PATH + "marked"
        assert (
            httpx.get(servers["swr-official-images"].base_url + marked, headers=headers).status_code
            == 404
        )
        assert (
            httpx.get(
                servers[f"swr-official-images@{revision}"].base_url + marked, headers=headers
            ).status_code
            == 500
        )


@pytest.mark.slow
def test_an_unknown_revision_is_refused_by_name(tmp_path):
    with pytest.raises(BenchError, match="cannot export revision 'no-such-revision'"):
        chosen_variants([], ["no-such-revision"], tmp_path)


def _wrk_line(requests: int, status_errors: int) -> str:
    return (
        f'BENCH_RESULT {{"requests": {requests}, "duration_us": 1000000, "p50_us": 100, '
        f'"p99_us": 900, "status_errors": {status_errors}, "socket_errors": 0}}'
    )


@pytest.mark.parametrize(
    ("status_errors", "expect_errors", "valid"),
    [(0, False, True), (1, False, False), (50, True, True), (49, True, False)],
)
def test_a_workload_is_what_it_says(status_errors, expect_errors, valid):
    """A 200 workload with one error, or a 404/401 workload with one success, is refused."""
    output = _wrk_line(50, status_errors)
    if valid:
        assert parse_result(output, expect_errors).requests == 50
    else:
        with pytest.raises(BenchError, match="the figures would mean nothing"):
            parse_result(output, expect_errors)


@pytest.mark.slow
def test_a_busy_loop_spins_on_its_cpu_until_the_block_ends():
    """--busy-server-cpu's neighbour: pinned to the CPU it is given, using it, and gone after."""
    cpu = max(os.sched_getaffinity(0))
    with busy_loop(cpu) as process:
        assert os.sched_getaffinity(process.pid) == {cpu}
        before = process_cpu_seconds(process.pid)
        while process_cpu_seconds(process.pid) == before:
            time.sleep(0.05)
        assert process.poll() is None
    assert process.poll() is not None


def test_a_busy_server_cpu_needs_the_servers_pinned():
    """Refused from the options alone, before a catalog is generated or a server started."""
    parser = argparse.ArgumentParser()
    add_store_options(parser, records=False)
    add_lookup_options(parser)
    add_framework_options(parser)
    args = parser.parse_args(["--busy-server-cpu", "--server-cpu", "0"])
    assert framework_settings(args).busy_server_cpu
    args.server_cpu = None
    with pytest.raises(BenchError, match="--busy-server-cpu needs the servers on one CPU"):
        framework_settings(args)
