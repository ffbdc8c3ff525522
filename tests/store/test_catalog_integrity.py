"""Catalog files: every record that validates can be written on either store, what neither store
can hold is refused by name, a backup always restores, with the same ids. Through the real CLI,
on each store (and SQLite to PostgreSQL)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from swr_official_images.settings import Settings
from swr_official_images.store.db import images, make_engine
from tests.conftest import (
    NESTED_IMAGE,
    fresh_database,
    migrate,
    require_postgres,
    run_cli,
    serve,
)

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def image(name: str, **changes: object) -> dict[str, object]:
    return {**NESTED_IMAGE, "name": name, **changes}


def write_lines(path: Path, records: list) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(engine: Engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(images).order_by(images.c.id)))


def assert_refused(result, *parts: str) -> None:
    assert result.code == 1, result.err
    assert "nothing written" in result.err, result.err
    for part in parts:
        assert part in result.err, (part, result.err)
    assert "Traceback" not in result.err


# --- line breaks: export and import agree on what a line is ------------------------------------


LINE_BREAKS = "\u2028 \u2029 \x85 \x1c\x1d\x1e \x0b\x0c \r"


def test_unicode_line_breaks_in_text_survive_export_and_import(
    database_url, empty_database_url, tmp_path
):
    # Two records: one alone could also be read as one JSON document, which has no lines.
    text = image("a", description=f"one{LINE_BREAKS}two", full_description=LINE_BREAKS, user="\x85")
    source = write_lines(tmp_path / "source.jsonl", [text, image("b")])
    assert run_cli(database_url, "import", str(source)).code == 0
    exported = tmp_path / "export.jsonl"
    assert run_cli(database_url, "export", str(exported)).code == 0

    migrate(empty_database_url)
    restored = run_cli(empty_database_url, "import", str(exported))

    assert restored.code == 0, restored.err
    assert run_cli(empty_database_url, "export").out == exported.read_text(encoding="utf-8")
    record = json.loads(exported.read_text(encoding="utf-8").split("\n")[0])
    assert record["description"] == f"one{LINE_BREAKS}two"


# Any text a JSON string can carry and both stores can hold: everything but NUL (refused, below)
# and lone surrogates (not UTF-8).
storable_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]))


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    # One database for every example: each import updates the same image in place.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    user=storable_text.filter(lambda s: 1 <= len(s) <= 64),
    description=storable_text,
    full_description=storable_text,
)
@example(user="\u2028", description="\x85", full_description="a\u2029b\r\nc")
def test_any_text_round_trips_through_export_and_import(
    database_url, tmp_path, user, description, full_description
):
    record = image("text", user=user, description=description, full_description=full_description)
    # A second line: one record alone could also be read as one JSON document.
    source = write_lines(tmp_path / "source.jsonl", [record, image("plain")])

    imported = run_cli(database_url, "import", str(source))
    exported = run_cli(database_url, "export")
    (tmp_path / "export.jsonl").write_text(exported.out, encoding="utf-8")
    again = run_cli(database_url, "import", str(tmp_path / "export.jsonl"))

    assert imported.code == 0, imported.err
    assert again.code == 0 and "unchanged 2" in again.out, again.err
    line = exported.out.split("\n")[0]
    assert {k: v for k, v in json.loads(line).items() if k != "id"} == record


# --- integers: int64, and only integers --------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "literal"),
    [
        ("star_count", "1e30"),
        ("star_count", "1000000000000000000000000000000"),
        ("collection_id", "-9223372036854775809"),
        ("star_count", "9223372036854775808"),
        ("pull_count", "18446744073709551615"),
        ("collection_id", "1.0"),
        ("star_count", "5E2"),
        ("collection_id", "-0.0"),
    ],
)
def test_numbers_that_are_not_int64_integers_are_refused(
    database_url, engine, tmp_path, field, literal
):
    line = json.dumps(image("big", **{field: "NUMBER"})).replace('"NUMBER"', literal)
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(image("fine")) + "\n" + line + "\n", encoding="utf-8")

    result = run_cli(database_url, "import", str(path))

    assert_refused(result, f"line 2: field '{field}'")
    assert snapshot(engine) == []


def test_the_int64_bounds_are_stored_and_served_exactly(database_url, tmp_path):
    extremes = image("edges", star_count=INT64_MAX, pull_count=INT64_MAX, collection_id=INT64_MIN)
    path = write_lines(tmp_path / "edges.jsonl", [extremes])

    assert run_cli(database_url, "import", str(path)).code == 0
    exported = run_cli(database_url, "export").out

    assert f'"star_count": {INT64_MAX},' in exported
    assert f'"collection_id": {INT64_MIN},' in exported


# --- times: every year the spec's pattern allows -----------------------------------------------


def test_times_before_the_year_1000_keep_four_digits_everywhere(database_url, tmp_path):
    """The spec's pattern for last_updated wants four digits for the year. glibc's strftime
    wrote 999-01-02: the response failed its own validation, and an export did not import."""
    from swr_official_images_client.api.official_images import show_official_image
    from swr_official_images_client.models import OfficialImage

    from tests.api.test_round_trip import client_for, shown

    ours = write_lines(
        tmp_path / "ours.jsonl", [image("early", last_updated="0999-01-02 03:04:05")]
    )
    hub_repo = {
        "user": "library",
        "name": "early-hub",
        "namespace": "official",
        "repository_type": "image",
        "description": None,
        "full_description": None,
        "star_count": 1,
        "pull_count": 2,
        "last_updated": "0001-01-01T00:00:00Z",
    }
    hub = write_lines(tmp_path / "hub.jsonl", [hub_repo])
    for path in (ours, hub):
        result = run_cli(database_url, "import", str(path))
        assert result.code == 0, result.err
    exported = tmp_path / "export.jsonl"
    assert run_cli(database_url, "export", str(exported)).code == 0
    lines = exported.read_text(encoding="utf-8").splitlines()
    times = {r["name"]: r["last_updated"] for r in map(json.loads, lines)}
    assert times == {"early": "0999-01-02 03:04:05", "early-hub": "0001-01-01 00:00:00"}

    token = run_cli(database_url, "token", "create", "early").out.strip()
    with (
        serve(Settings(database_url=database_url, validate_responses=True)) as base_url,
        client_for(base_url, token) as client,
    ):
        for name, expected in times.items():
            response = show_official_image.sync_detailed("official", name, client=client)
            assert isinstance(response.parsed, OfficialImage), shown(response)
            assert response.parsed.last_updated == expected

    restored = run_cli(database_url, "import", str(exported))
    assert restored.code == 0, restored.err
    assert "unchanged 2" in restored.out


# --- strings the stores refuse -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "escaped"),
    [
        ("description", "a\\u0000b"),
        ("full_description", "\\u0000"),
        ("user", "x\\u0000"),
        ("description", "\\ud800"),  # a lone surrogate: not UTF-8, no store can hold it
        ("full_description", "a\\udfffb"),
    ],
)
def test_characters_no_store_can_hold_are_refused_by_name(
    database_url, engine, tmp_path, field, escaped
):
    line = json.dumps(image("nul", **{field: "TEXT"})).replace("TEXT", escaped)
    for name, text in (("lines.jsonl", line + "\n"), ("array.json", f"[{line}]")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")

        result = run_cli(database_url, "import", str(path))

        where = "line 1" if name.endswith("jsonl") else "record 0"
        assert_refused(result, f"{where}: field '{field}'")
        assert snapshot(engine) == []


# --- file shapes that used to end in a traceback -----------------------------------------------


@pytest.mark.parametrize("layout", ["array", "lines"])
def test_a_utf8_byte_order_mark_is_accepted(database_url, engine, tmp_path, layout):
    records = [image("a"), image("b")]
    text = json.dumps(records) if layout == "array" else "\n".join(map(json.dumps, records))
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))

    result = run_cli(database_url, "import", str(path))

    assert result.code == 0, result.err
    assert [row.name for row in snapshot(engine)] == ["a", "b"]


DEEP = 100_000


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "[" + json.dumps(image("a")) + ", " + '{"a": ' * DEEP + "1" + "}" * DEEP + "]",
            "record 1",
        ),
        (json.dumps(image("a")) + "\n" + '{"a": ' * DEEP + "1" + "}" * DEEP + "\n", "line 2"),
        ('{"a": ' * DEEP + "1" + "}" * DEEP, "record 0"),
        ("[" * DEEP + "]" * DEEP, "record 0"),
    ],
    ids=["in an array", "as a line", "one document", "arrays"],
)
def test_deeply_nested_values_are_refused_cleanly(database_url, engine, tmp_path, text, where):
    path = tmp_path / "deep.json"
    path.write_text(text, encoding="utf-8")

    result = run_cli(database_url, "import", str(path))

    assert_refused(result, where, "nested")
    assert snapshot(engine) == []


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_docker_hub_times_outside_the_calendar_in_utc_are_refused(
    database_url, engine, tmp_path, stamp
):
    repo = {
        "user": "library",
        "name": "edge",
        "namespace": "library",
        "repository_type": "image",
        "description": None,
        "full_description": None,
        "star_count": 1,
        "pull_count": 2,
        "last_updated": stamp,
    }
    path = write_lines(tmp_path / "hub.jsonl", [repo])

    result = run_cli(database_url, "import", str(path))

    assert_refused(result, "line 1: field 'last_updated'")
    assert snapshot(engine) == []


@pytest.mark.parametrize("layout", ["array", "lines"])
def test_a_field_given_twice_in_one_record_is_refused(database_url, engine, tmp_path, layout):
    twice = json.dumps(image("twice")).replace('"star_count":', '"star_count": 1, "star_count":')
    text = f"[{json.dumps(image('a'))}, {twice}]" if layout == "array" else f"{twice}\n"
    path = tmp_path / "twice.json"
    path.write_text(text, encoding="utf-8")

    result = run_cli(database_url, "import", str(path))

    where = "record 1" if layout == "array" else "line 1"
    assert_refused(result, f"{where}: field 'star_count' appears more than once")
    assert snapshot(engine) == []


def test_a_line_over_the_limit_is_refused(database_url, engine, tmp_path):
    huge = image("huge", full_description="x" * (1 << 20))
    path = write_lines(tmp_path / "huge.jsonl", [image("a"), huge])

    result = run_cli(database_url, "import", str(path))

    assert_refused(result, "line 2: longer than 1048576 bytes")
    assert snapshot(engine) == []


# An import of /dev/zero must stop long before this much address space.
_ADDRESS_SPACE_LIMIT = 2 << 30


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_ADDRESS_SPACE_LIMIT, _ADDRESS_SPACE_LIMIT))


@pytest.mark.slow
def test_an_endless_file_is_refused_without_reading_it_all(database_url):
    process = subprocess.run(
        [sys.executable, "-m", "swr_official_images", "import", "/dev/zero"],
        env={**os.environ, "SWR_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_address_space,  # no threads in the child yet
        check=False,
    )

    assert process.returncode == 1, process.stderr[-2000:]
    assert "line 1: longer than 1048576 bytes" in process.stderr
    assert "Traceback" not in process.stderr


# --- commands that used to end in a traceback --------------------------------------------------


@pytest.mark.parametrize("lifetime", ["999999w", "99999999999999999999w", "9999999999999s"])
def test_a_token_lifetime_beyond_the_calendar_is_refused(database_url, lifetime):
    try:
        result = run_cli(database_url, "token", "create", "x", "--expires-in", lifetime)
        code, err = result.code, result.err
    except SystemExit as exit_:  # argparse refuses a bad option value this way
        code, err = exit_.code, ""
    assert code in (1, 2)
    assert run_cli(database_url, "token", "list").out.count("\n") == 1  # the heading only
    assert "Traceback" not in err


@pytest.mark.parametrize("target", ["missing", "directory"])
def test_export_to_a_path_it_cannot_write_fails_cleanly(database_url, tmp_path, target):
    path = tmp_path / "no-such-folder" / "x.jsonl" if target == "missing" else tmp_path
    before = sorted(tmp_path.iterdir())

    result = run_cli(database_url, "export", str(path))

    assert result.code == 1
    assert result.err.startswith("error: export failed: cannot write"), result.err
    assert sorted(tmp_path.iterdir()) == before  # nothing left behind


# --- ids: kept through export and import -------------------------------------------------------


def with_gaps(database_url: str, catalog_file: Path, tmp_path: Path) -> None:
    """A catalog whose ids are not 1..N: the bundled one less an image an operator removed,
    an image at id 5000, then more."""
    assert run_cli(database_url, "import", str(catalog_file)).code == 0
    engine = make_engine(Settings(database_url=database_url))
    with engine.begin() as conn:
        conn.execute(images.delete().where(images.c.id == 3))
    engine.dispose()
    explicit = write_lines(tmp_path / "explicit.jsonl", [image("far-away", id=5000)])
    assert run_cli(database_url, "import", str(explicit)).code == 0
    later = write_lines(tmp_path / "later.jsonl", [image("after-1"), image("after-2")])
    assert run_cli(database_url, "import", str(later)).code == 0


def test_a_new_image_keeps_the_id_in_its_record_and_later_ones_follow_it(
    database_url, engine, tmp_path, catalog_file
):
    with_gaps(database_url, catalog_file, tmp_path)

    ids = {row.name: row.id for row in snapshot(engine)}
    assert ids["far-away"] == 5000
    assert (ids["after-1"], ids["after-2"]) == (5001, 5002)


def test_an_export_restores_with_the_same_ids_on_the_same_store(
    database_url, empty_database_url, tmp_path, catalog_file
):
    with_gaps(database_url, catalog_file, tmp_path)
    exported = tmp_path / "export.jsonl"
    assert run_cli(database_url, "export", str(exported)).code == 0

    migrate(empty_database_url)
    assert run_cli(empty_database_url, "import", str(exported)).code == 0
    more = write_lines(tmp_path / "more.jsonl", [image("after-restore")])
    assert run_cli(empty_database_url, "import", str(more)).code == 0

    restored = run_cli(empty_database_url, "export").out.split("\n")
    assert restored[:-2] == exported.read_text(encoding="utf-8").split("\n")[:-1]
    assert json.loads(restored[-2])["id"] == 5003  # the sequence moved past the restored ids


def test_ids_that_conflict_are_refused_by_record(database_url, engine, tmp_path):
    base = write_lines(tmp_path / "base.jsonl", [image("a", id=1), image("b", id=2)])
    assert run_cli(database_url, "import", str(base)).code == 0
    before = snapshot(engine)

    taken = write_lines(tmp_path / "taken.jsonl", [image("c", id=3), image("d", id=2)])
    repeated = write_lines(tmp_path / "repeated.jsonl", [image("e", id=7), image("f", id=7)])
    for path, message in (
        (taken, "line 2: id 2 belongs to image official/b"),
        (repeated, "line 2: id 7 repeats line 1"),
    ):
        assert_refused(run_cli(database_url, "import", str(path)), message)
        assert snapshot(engine) == before


def test_an_existing_image_keeps_its_id_whatever_the_file_says(database_url, engine, tmp_path):
    base = write_lines(tmp_path / "base.jsonl", [image("a"), image("b")])
    assert run_cli(database_url, "import", str(base)).code == 0
    ids = {row.name: row.id for row in snapshot(engine)}

    moved = write_lines(tmp_path / "moved.jsonl", [image("a", id=99, star_count=1)])
    result = run_cli(database_url, "import", str(moved))

    assert result.code == 0, result.err
    assert "updated 1" in result.out
    assert {row.name: row.id for row in snapshot(engine)} == ids


@pytest.mark.parametrize("id_", [0, -1, INT64_MAX + 1, 1.5, "7"])
def test_ids_outside_the_spec_are_refused(database_url, engine, tmp_path, id_):
    path = write_lines(tmp_path / "id.jsonl", [image("a", id=id_)])

    assert_refused(run_cli(database_url, "import", str(path)), "line 1: field 'id'")


@pytest.mark.slow
def test_sqlite_to_postgresql_gives_byte_identical_responses(tmp_path, catalog_file):
    require_postgres()
    with (
        fresh_database("sqlite", tmp_path) as sqlite_url,
        fresh_database("postgresql", tmp_path) as postgresql_url,
    ):
        migrate(sqlite_url)
        with_gaps(sqlite_url, catalog_file, tmp_path)
        backup = tmp_path / "backup.jsonl"
        assert run_cli(sqlite_url, "export", str(backup)).code == 0
        migrate(postgresql_url)
        assert run_cli(postgresql_url, "import", str(backup)).code == 0

        records = [json.loads(line) for line in backup.read_text(encoding="utf-8").splitlines()]
        answers = []
        for url in (sqlite_url, postgresql_url):
            token = run_cli(url, "token", "create", "compare").out.strip()
            with serve(Settings(database_url=url, validate_responses=True)) as base_url:
                answers.append(fetch_every_image(base_url, token, records))

    sqlite_answers, postgresql_answers = answers
    assert len(sqlite_answers) == len(records) > 100
    for record, left, right in zip(records, sqlite_answers, postgresql_answers, strict=True):
        assert left[0] == 200, (record["name"], left)
        assert left == right, record["name"]


def fetch_every_image(base_url: str, token: str, records: list[dict]) -> list[tuple]:
    """Status, headers but Date and Last-Modified, and the body's exact bytes, for every
    record's image. Last-Modified is when the store last changed the record, which a restore
    does; the ETag, of the exact bytes, is compared."""
    answers = []
    with httpx.Client(base_url=base_url, headers={"X-Auth-Token": token}) as client:
        for index, record in enumerate(records):
            name = record["name"].replace("/", "$")
            response = client.get(
                f"/v2/manage/dockerhub/namespaces/{record['namespace']}/repos/{name}",
                headers={"X-Request-Id": f"compare-{index}"},
            )
            headers = sorted(
                (k, v) for k, v in response.headers.items() if k not in ("date", "last-modified")
            )
            answers.append((response.status_code, headers, response.content))
    return answers
