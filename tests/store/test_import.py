"""Catalog import and export through the real CLI, on each store: formats, all or nothing,
updates in place, round trips, progress, and two imports at once."""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

import swr_official_images.cli.progress
import swr_official_images.store.image_import
import swr_official_images.store.images
import swr_official_images.store.staging
from swr_official_images.store.db import images
from tests.conftest import NESTED_IMAGE, run_cli

IMPORTED = "imported {total} records: inserted {inserted}, updated {updated}, unchanged {unchanged}"


def image(name: str, **changes: object) -> dict[str, object]:
    return {**NESTED_IMAGE, "name": name, **changes}


def write_json(path: Path, records: list) -> Path:
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def write_lines(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def snapshot(engine: Engine) -> list:
    """Every row of the catalog, ids and values, in id order."""
    with engine.connect() as conn:
        return list(conn.execute(select(images).order_by(images.c.id)))


def summary(total: int, inserted: int = 0, updated: int = 0, unchanged: int = 0) -> str:
    return IMPORTED.format(total=total, inserted=inserted, updated=updated, unchanged=unchanged)


def docker_hub_repository(name: str, **changes: object) -> dict[str, object]:
    """A repository object as Docker Hub's API returns it."""
    return {
        "user": "library",
        "name": name,
        "namespace": "library",
        "repository_type": "image",
        "status": 1,
        "status_description": "active",
        "description": None,
        "is_private": False,
        "is_automated": False,
        "star_count": 20931,
        "pull_count": 1000000000,
        "last_updated": "2026-10-30T08:15:02.123456Z",
        "last_modified": "2026-10-30T08:15:02.123456Z",
        "date_registered": "2014-06-05T19:14:45.378302Z",
        "full_description": None,
        "media_types": ["application/vnd.oci.image.index.v1+json"],
        "content_types": ["image"],
        "categories": [{"name": "Web Servers", "slug": "web-servers"}],
        "storage_size": 12345,
        **changes,
    }


# --- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", [write_json, write_lines], ids=["json", "json-lines"])
def test_json_and_json_lines_import_alike(database_url, engine, tmp_path, writer):
    path = writer(tmp_path / "catalog", [image("a"), image("b$c".replace("$", "/"))])

    result = run_cli(database_url, "import", str(path))

    assert result.code == 0, result.err
    assert summary(2, inserted=2) in result.out
    assert [row.name for row in snapshot(engine)] == ["a", "b/c"]


@pytest.mark.parametrize(
    "layout", ["one object", "array", "listing page", "json lines"], ids=lambda s: s
)
def test_docker_hub_repositories_are_converted(database_url, engine, tmp_path, layout):
    repos = [
        docker_hub_repository("nginx"),
        docker_hub_repository(
            "redis", description="Redis is a data store.", last_updated="2026-01-02T03:04:05+08:00"
        ),
    ]
    path = tmp_path / "hub.json"
    if layout == "one object":
        repos = repos[:1]
        path.write_text(json.dumps(repos[0], indent=2), encoding="utf-8")
    elif layout == "array":
        write_json(path, repos)
    elif layout == "listing page":
        page = {"count": 2, "next": None, "previous": None, "results": repos}
        path.write_text(json.dumps(page), encoding="utf-8")
    else:
        write_lines(path, repos)

    result = run_cli(database_url, "import", str(path), "--namespace", "official")

    assert result.code == 0, result.err
    rows = {row.name: row for row in snapshot(engine)}
    nginx = rows["nginx"]
    assert nginx.namespace == "official" and nginx.user == "official"  # as the sample files them
    assert nginx.description == "" and nginx.full_description == ""  # null becomes empty
    assert nginx.collection_id == 0  # Docker Hub has no collection id
    assert str(nginx.last_updated) == "2026-10-30 08:15:02"  # UTC, whole seconds
    if layout != "one object":
        assert rows["redis"].description == "Redis is a data store."
        assert str(rows["redis"].last_updated) == "2026-01-01 19:04:05"  # +08:00 in UTC


def listing_result(name: str, **changes: object) -> dict[str, object]:
    """A result of the current listing endpoint, `/v2/namespaces/{namespace}/repositories`:
    a repository object without `user` and `full_description`."""
    result = docker_hub_repository(name, description=f"{name}, from the listing", **changes)
    del result["user"], result["full_description"]
    return result


def test_a_docker_hub_listing_page_keeps_what_it_does_not_carry(database_url, engine, tmp_path):
    catalog = [image("nginx", full_description="The long nginx text.", collection_id=7)]
    run_cli(database_url, "import", str(write_json(tmp_path / "catalog.json", catalog)))
    page = {"count": 2, "next": None, "previous": None}
    page["results"] = [listing_result("nginx", star_count=5), listing_result("busybox")]
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page), encoding="utf-8")

    result = run_cli(database_url, "import", str(path), "--namespace", "official")

    assert result.code == 0, result.err
    assert summary(2, inserted=1, updated=1) in result.out
    rows = {row.name: row for row in snapshot(engine)}
    nginx, busybox = rows["nginx"], rows["busybox"]
    assert (nginx.star_count, nginx.description) == (5, "nginx, from the listing")
    # Not in a listing result: kept as stored, or the documented default for a new image.
    assert (nginx.full_description, nginx.collection_id) == ("The long nginx text.", 7)
    assert (busybox.full_description, busybox.collection_id) == ("", 0)
    # `user` is the namespace the image is filed under, as in the sample catalog.
    assert nginx.user == busybox.user == "official"


def test_a_docker_hub_user_is_the_namespace_it_is_filed_under(database_url, engine, tmp_path):
    path = write_lines(tmp_path / "page.jsonl", [listing_result("busybox")])

    result = run_cli(database_url, "import", str(path))

    assert result.code == 0, result.err
    [busybox] = snapshot(engine)
    assert (busybox.namespace, busybox.user) == ("library", "library")


def test_docker_hub_format_can_be_named(database_url, engine, tmp_path):
    repo = docker_hub_repository("alpine")
    del repo["repository_type"]  # nothing left to recognise it by
    path = write_lines(tmp_path / "hub.jsonl", [repo])

    result = run_cli(database_url, "import", "--format", "dockerhub", str(path))

    assert result.code == 0, result.err
    assert [row.name for row in snapshot(engine)] == ["alpine"]


# --- all or nothing --------------------------------------------------------------------------


def bad_files(tmp_path: Path) -> list[tuple[str, Path, str]]:
    good = [image("a", star_count=99), image("new-one")]
    return [
        (
            "bad field in an array",
            write_json(tmp_path / "1.json", [*good, image("x", pull_count=-5)]),
            "record 2: field 'pull_count'",
        ),
        (
            "bad field in JSON Lines",
            write_lines(tmp_path / "2.jsonl", [*good, image("Upper")]),
            "line 3: field 'name'",
        ),
        (
            "broken line",
            Path(tmp_path / "3.jsonl").write_text(
                json.dumps(good[0]) + "\n{oops\n", encoding="utf-8"
            )
            and tmp_path / "3.jsonl",
            "line 2: not valid JSON",
        ),
        (
            "missing field",
            write_json(
                tmp_path / "4.json", [*good, {k: v for k, v in good[0].items() if k != "user"}]
            ),
            "record 2: field 'user': is required",
        ),
        (
            "repeated image",
            write_json(tmp_path / "5.json", [*good, image("a")]),
            "record 2: image official/a repeats record 0",
        ),
        (
            "bad Docker Hub time",
            write_lines(
                tmp_path / "6.jsonl",
                [docker_hub_repository("y"), docker_hub_repository("z", last_updated="soon")],
            ),
            "line 2: field 'last_updated'",
        ),
    ]


def test_an_invalid_import_leaves_the_catalog_exactly_as_it_was(database_url, engine, tmp_path):
    run_cli(
        database_url, "import", str(write_json(tmp_path / "base.json", [image("a"), image("b")]))
    )
    before = snapshot(engine)
    assert len(before) == 2

    for label, path, message in bad_files(tmp_path):
        result = run_cli(database_url, "import", str(path))

        assert result.code == 1, label
        assert message in result.err, (label, result.err)
        assert "nothing written" in result.err, label
        assert snapshot(engine) == before, label


def test_a_failure_while_writing_rolls_everything_back(database_url, engine, tmp_path, monkeypatch):
    run_cli(database_url, "import", str(write_json(tmp_path / "base.json", [image("a")])))
    before = snapshot(engine)
    load = swr_official_images.store.image_import.bulk_load

    def load_then_fail(conn, staging, records, progress):
        load(conn, staging, records, progress)
        conn.execute(images.update().values(star_count=0))  # a write that must not survive
        raise ConnectionError("the database went away mid-import")

    monkeypatch.setattr(swr_official_images.store.image_import, "bulk_load", load_then_fail)
    changed = write_json(tmp_path / "c.json", [image("a", star_count=1), image("b")])

    with pytest.raises(ConnectionError):
        run_cli(database_url, "import", str(changed))

    assert snapshot(engine) == before


# --- updates, re-imports and round trips -----------------------------------------------------


def test_reimport_changes_nothing_and_updates_keep_their_ids(database_url, engine, tmp_path):
    first = write_json(tmp_path / "1.json", [image("a"), image("b"), image("c")])
    assert summary(3, inserted=3) in run_cli(database_url, "import", str(first)).out
    ids = {row.name: row.id for row in snapshot(engine)}

    again = run_cli(database_url, "import", str(first))
    changed = write_json(
        tmp_path / "2.json", [image("a"), image("b", star_count=1, description="new"), image("d")]
    )
    update = run_cli(database_url, "import", str(changed))

    assert summary(3, unchanged=3) in again.out
    assert summary(3, inserted=1, updated=1, unchanged=1) in update.out
    rows = {row.name: row for row in snapshot(engine)}
    assert {name: rows[name].id for name in ids} == ids  # updated in place, nothing renumbered
    assert rows["b"].star_count == 1 and rows["b"].description == "new"
    assert rows["c"].star_count == NESTED_IMAGE["star_count"]  # absent from a file: kept
    assert rows["d"].id > max(ids.values())


def test_export_writes_what_import_reads_back_identically(
    database_url, engine, tmp_path, catalog_file, store
):
    run_cli(database_url, "import", str(catalog_file))
    exported = tmp_path / "export.jsonl"

    result = run_cli(database_url, "export", str(exported))
    reimport = run_cli(database_url, "import", str(exported))
    to_stdout = run_cli(database_url, "export")

    total = len(json.loads(catalog_file.read_text(encoding="utf-8")))
    assert result.code == 0 and f"exported {total} records" in result.err
    assert summary(total, unchanged=total) in reimport.out
    assert to_stdout.out == exported.read_text(encoding="utf-8")
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [row.id for row in snapshot(engine)]


def test_export_into_a_fresh_database_reproduces_the_catalog(
    database_url, engine, tmp_path, catalog_file, empty_database_url
):
    run_cli(database_url, "import", str(catalog_file))
    exported = tmp_path / "export.jsonl"
    run_cli(database_url, "export", str(exported))

    run_cli(empty_database_url, "migrate")
    assert run_cli(empty_database_url, "import", str(exported)).code == 0
    copy = run_cli(empty_database_url, "export").out

    assert copy == exported.read_text(encoding="utf-8")


# --- progress --------------------------------------------------------------------------------


def test_progress_is_plain_lines_without_a_terminal(database_url, tmp_path, monkeypatch):
    monkeypatch.setattr(swr_official_images.cli.progress, "_PLAIN_PROGRESS_EVERY", 10)
    monkeypatch.setattr(swr_official_images.store.staging, "LOAD_BATCH", 10)
    path = write_lines(tmp_path / "c.jsonl", [image(f"img-{i}") for i in range(25)])

    result = run_cli(database_url, "import", str(path))

    # The file is read as it is imported: how many records it holds is known at the end.
    assert "importing: 10 records" in result.err
    assert "importing: 20 records" in result.err
    assert summary(25, inserted=25) in result.out
    assert "\r" not in result.err and "%|" not in result.err


def test_progress_is_a_bar_on_a_terminal(database_url, tmp_path):
    path = write_lines(tmp_path / "c.jsonl", [image(f"img-{i}") for i in range(25)])

    result = run_cli(database_url, "import", str(path), tty=True)

    assert result.code == 0
    assert "importing: 25 records [" in result.err


# --- memory ----------------------------------------------------------------------------------

# The ceiling on an import's peak RSS (issue: at most 300 MB for any size of catalog), applied
# as an address-space limit, which is stricter: a process that held the file could not pass.
_IMPORT_ADDRESS_SPACE = 300 << 20


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_IMPORT_ADDRESS_SPACE, _IMPORT_ADDRESS_SPACE))


@pytest.mark.slow
# The layout is the file reader's concern and the store the loader's: each once, in two runs
# (a run imports 170 MB).
@pytest.mark.parametrize(
    ("store", "layout"),
    [("sqlite", "json-lines"), ("postgresql", "json-array")],
    indirect=["store"],
)
def test_an_import_does_not_hold_the_file(database_url, engine, tmp_path, layout):
    # About 170 MB of records: holding them (text and records) would take twice the limit.
    count, text = 80_000, "x" * 2000
    path = tmp_path / "large.json"
    # Written a record at a time: the test process must not hold the file either.
    with path.open("w", encoding="utf-8") as out:
        records = (json.dumps(image(f"big-{i:06d}", full_description=text)) for i in range(count))
        if layout == "json-array":
            out.write("[\n")
            out.writelines(("" if i == 0 else ",\n") + r for i, r in enumerate(records))
            out.write("\n]\n")
        else:
            out.writelines(record + "\n" for record in records)
    assert path.stat().st_size > _IMPORT_ADDRESS_SPACE / 2

    process = subprocess.run(
        [sys.executable, "-m", "swr_official_images", "import", str(path)],
        env={**os.environ, "SWR_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_address_space,  # the child has no threads yet
        check=False,
    )

    assert process.returncode == 0, process.stderr[-2000:]
    assert summary(count, inserted=count) in process.stdout
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(images)).scalar_one() == count


def test_the_cyclic_collector_is_paused_during_an_import_only(database_url, tmp_path, monkeypatch):
    # The import runs without the cyclic garbage collector (its passes cost a tenth of the CPU
    # time); it must be back on afterwards, whether the import succeeded or failed.
    during = []
    load = swr_official_images.store.image_import.bulk_load

    def load_and_look(conn, staging, records, progress):
        during.append(gc.isenabled())
        return load(conn, staging, records, progress)

    monkeypatch.setattr(swr_official_images.store.image_import, "bulk_load", load_and_look)
    good = write_lines(tmp_path / "good.jsonl", [image("a"), image("b")])
    bad = write_lines(tmp_path / "bad.jsonl", [image("c"), image("Upper")])

    assert run_cli(database_url, "import", str(good)).code == 0
    assert gc.isenabled()
    assert run_cli(database_url, "import", str(bad)).code == 1
    assert gc.isenabled()
    assert during == [False, False]


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.slow
def test_two_imports_at_once_neither_interleave_nor_lose_rows(database_url, engine, tmp_path):
    shared = 2000
    base = [image(f"shared-{i}", star_count=0) for i in range(shared)]
    run_cli(database_url, "import", str(write_lines(tmp_path / "base.jsonl", base)))
    files = {
        marker: write_lines(
            tmp_path / f"{marker}.jsonl",
            [image(f"shared-{i}", star_count=marker) for i in range(shared)]
            + [image(f"only-{marker}-{i}") for i in range(500)],
        )
        for marker in (1, 2)
    }
    env = {**os.environ, "SWR_DATABASE_URL": database_url}

    # Two real processes, started together, contending for the same rows.
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "swr_official_images", "import", str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in files.values()
    ]
    outputs = [p.communicate(timeout=120) for p in processes]

    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        # Each changed all the shared rows (from the base, or from the other's values).
        assert summary(shared + 500, inserted=500, updated=shared) in out
    rows = snapshot(engine)
    assert len(rows) == shared + 1000
    stars = {row.star_count for row in rows if row.name.startswith("shared-")}
    assert stars in ({1}, {2})  # all from one import or the other, never a mix


def test_ctrl_c_during_an_import_is_one_line_exit_130_and_writes_nothing(
    database_url, engine, tmp_path, monkeypatch
):
    run_cli(database_url, "import", str(write_json(tmp_path / "base.json", [image("a")])))
    before = snapshot(engine)
    load = swr_official_images.store.image_import.bulk_load

    def load_then_interrupt(conn, staging, records, progress):
        load(conn, staging, records, progress)
        conn.execute(images.update().values(star_count=0))  # a write that must not survive
        raise KeyboardInterrupt  # what Python raises on SIGINT, wherever the import is

    monkeypatch.setattr(swr_official_images.store.image_import, "bulk_load", load_then_interrupt)
    changed = write_json(tmp_path / "c.json", [image("a", star_count=1), image("b")])

    result = run_cli(database_url, "import", str(changed))

    assert (result.code, result.out) == (130, "")
    assert result.err == "error: import interrupted, nothing written\n", result.err
    assert snapshot(engine) == before


def test_ctrl_c_during_another_command_is_one_line_exit_130(database_url, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(
        swr_official_images.store.images.SqlImageRepository, "iter_all", interrupted
    )

    result = run_cli(database_url, "export")

    assert (result.code, result.err) == (130, "error: interrupted\n")
