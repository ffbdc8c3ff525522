"""The paged list: round trips through the generated client, and keyset paging on each store
(byte order whatever the locale, index use at both ends, a walk while an import runs)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, insert
from swr_official_images_client.api.official_images import list_official_images
from swr_official_images_client.models import Error, OfficialImagePage
from swr_official_images_client.types import UNSET, Response

from swr_official_images.domain import ImageRecord
from swr_official_images.settings import Settings
from swr_official_images.store.db import images, make_engine, schema_lock_transaction
from swr_official_images.store.images import SqlImageRepository, page_query
from swr_official_images.store.migrations import INITIAL_REVISION, alembic_config
from tests.api.test_round_trip import client_for, get_page, shown
from tests.conftest import (
    NESTED_IMAGE,
    migrate,
    start_loaded_server,
)
from tests.support.contract import LIST_PATH, assert_request_id, expected_error_code

MODES = ["sync", "async"]


def walk(base_url: str, token: str, namespace: str, mode: str = "sync", **query) -> list[list]:
    """Every page, following nextMarker as the README shows; each page a list of names."""
    client = client_for(base_url, token)
    if mode == "sync":
        with client:
            return follow(
                lambda **q: list_official_images.sync_detailed(namespace, client=client, **q),
                **query,
            )

    async def run() -> list[list]:
        pages: list[list] = []
        marker = UNSET
        async with client:
            while marker is not None:
                response = await list_official_images.asyncio_detailed(
                    namespace, client=client, marker=marker, **query
                )
                marker = take_page(response, pages)
        return pages

    return asyncio.run(run())


def follow(get, pages: list[list] | None = None, **query) -> list[list]:
    """Calls `get` for each page in turn, from the first to the last."""
    pages = [] if pages is None else pages
    marker = UNSET
    while marker is not None:
        marker = take_page(get(marker=marker, **query), pages)
    return pages


def take_page(response: Response, pages: list[list]) -> str | None:
    """Adds the page's names to `pages`; returns the next marker, None after the last page."""
    assert response.status_code == 200, shown(response)
    page = response.parsed
    assert isinstance(page, OfficialImagePage), shown(response)
    pages.append([image.name for image in page.repos])
    if not page.next_marker:
        return None
    # The marker is the last image's name in its path form.
    assert page.next_marker == page.repos[-1].name.replace("/", "$")
    return page.next_marker


def stored_names(engine: Engine, namespace: str) -> list[str]:
    repo = SqlImageRepository(engine)
    return sorted(i.name for i in repo.iter_all() if i.namespace == namespace)


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_walking_the_pages_returns_every_image_once_in_byte_order(live_server, mode):
    pages = walk(live_server.base_url, live_server.tokens.valid, "official", mode, limit=40)

    names = [name for page in pages for name in page]
    # Python orders str by code point: for these ASCII names, byte order.
    assert names == stored_names(live_server.engine, "official")
    assert "library/nginx" in names
    assert [len(page) for page in pages[:-1]] == [40] * (len(pages) - 1)
    assert 0 < len(pages[-1]) <= 40


def test_a_page_holds_the_stored_records(spec, live_server):
    at = (live_server.base_url, live_server.tokens.valid)

    response = get_page(*at, "official", limit=3, marker="library$nginx")

    repo = SqlImageRepository(live_server.engine)
    for image in response.parsed.repos:
        assert image.to_dict() == repo.get("official", image.name).to_api()
    assert_request_id(spec, response.headers)


def test_the_default_limit_is_the_spec_default(spec, live_server):
    default = spec["components"]["parameters"]["limit"]["schema"]["default"]
    at = (live_server.base_url, live_server.tokens.valid)

    response = get_page(*at, "official")

    total = len(stored_names(live_server.engine, "official"))
    assert total > default  # so that the default matters
    assert len(response.parsed.repos) == default
    assert response.parsed.next_marker == response.parsed.repos[-1].name


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("ngin", ["nginx"]),  # a prefix, not a substring: library/nginx is not in it
        ("library$", ["library/alpine", "library/nginx", "library/redis"]),  # "$" is "/"
        ("library$ngin", ["library/nginx"]),
        ("re_", []),  # "_" is a character, not LIKE's wildcard: no "redis"
        ("r.", []),  # "." is a character, not a regex's wildcard
        ("nginx", ["nginx"]),
        ("zzz", []),
    ],
)
def test_the_name_filter_is_a_prefix_of_plain_characters(live_server, prefix, expected):
    pages = walk(live_server.base_url, live_server.tokens.valid, "official", name=prefix)
    assert [name for page in pages for name in page] == expected


def test_the_name_filter_pages_too(live_server):
    everything = stored_names(live_server.engine, "official")
    expected = [n for n in everything if n.startswith("c")]

    pages = walk(live_server.base_url, live_server.tokens.valid, "official", name="c", limit=2)

    assert [name for page in pages for name in page] == expected
    assert len(pages) == (len(expected) + 1) // 2


def test_a_marker_continues_after_a_name_that_need_not_exist(live_server):
    everything = stored_names(live_server.engine, "official")
    at = (live_server.base_url, live_server.tokens.valid)

    response = get_page(*at, "official", limit=2, marker="nginw")

    assert [i.name for i in response.parsed.repos] == [n for n in everything if n > "nginw"][:2]


@pytest.mark.parametrize(
    "query",
    [{"namespace": "nobody"}, {"namespace": "official", "marker": "zzzz"}],
    ids=["empty namespace", "past the end"],
)
def test_nothing_left_is_an_empty_last_page(live_server, query):
    at = (live_server.base_url, live_server.tokens.valid)

    response = get_page(*at, **query)

    assert response.status_code == 200, shown(response)
    assert response.parsed.repos == []
    assert response.parsed.next_marker is UNSET
    assert "nextMarker" not in json.loads(response.content)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "+5"}, "limit"),
        ({"limit": " 5"}, "limit"),
        ({"limit": "5_0"}, "limit"),
        ({"limit": "1e2"}, "limit"),
        ({"marker": "NGINX"}, "marker"),
        ({"marker": ""}, "marker"),
        ({"marker": "$nginx"}, "marker"),
        ({"marker": "nginx/x"}, "marker"),
        ({"marker": "n" * 129}, "marker"),
        ({"marker": "ngin%"}, "marker"),
        ({"name": "Ngin"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "ngin%"}, "name"),
        ({"name": "ngin*"}, "name"),
        ({"name": "n" * 129}, "name"),
    ],
)
def test_400_names_the_parameter_and_echoes_nothing(spec, live_server, mode, query, parameter):
    at = (live_server.base_url, live_server.tokens.valid)

    response = get_page(*at, "official", mode, **query)

    assert response.status_code == 400, shown(response)
    assert isinstance(response.parsed, Error), shown(response)
    assert response.parsed.error_code == expected_error_code(spec, 400, LIST_PATH)
    assert f"'{parameter}'" in response.parsed.error_msg
    value = str(query[parameter])
    if len(value) > 1:
        assert value not in response.parsed.error_msg
    assert_request_id(spec, response.headers, json.loads(response.content))


@pytest.mark.parametrize("mode", MODES)
def test_401_without_a_valid_token(spec, live_server, mode):
    for token in ("swr_never-issued", live_server.tokens.revoked, live_server.tokens.expired):
        response = get_page(live_server.base_url, token, "official", mode)
        assert response.status_code == 401, shown(response)
        assert response.parsed.error_code == expected_error_code(spec, 401, LIST_PATH)


# --- keyset paging on each store --------------------------------------------------------------


def record(name: str, namespace: str = "official", **changes) -> ImageRecord:
    base = ImageRecord(
        user="official",
        name=name,
        namespace=namespace,
        description="",
        full_description="",
        star_count=0,
        pull_count=0,
        collection_id=0,
        last_updated=datetime(2026, 1, 1),
    )
    return replace(base, **changes)


# Names whose order differs between byte order and a locale's: "_" after "-" and "." and "/"
# and digits in bytes, before them in en-US; nested names ("/") among flat ones.
LOCALE_SENSITIVE = ["a_b", "a-c", "a.z", "a/b", "a0", "aa", "ab", "a--b", "a__b", "b", "a/a/c"]


def walk_repository(engine: Engine, namespace: str, limit: int, prefix: str | None = None):
    repo = SqlImageRepository(engine)
    names: list[str] = []
    after = None
    while True:
        page = repo.page(namespace, limit, after=after, prefix=prefix)
        names += [i.name for i in page.images]
        if not page.more:
            return names
        after = page.images[-1].name


def test_pages_follow_byte_order(engine):
    repo = SqlImageRepository(engine)
    repo.import_records([record(n) for n in LOCALE_SENSITIVE] + [record("a", namespace="other")])

    assert walk_repository(engine, "official", limit=3) == sorted(LOCALE_SENSITIVE)
    assert walk_repository(engine, "official", limit=2, prefix="a/") == ["a/a/c", "a/b"]
    assert walk_repository(engine, "other", limit=1) == ["a"]


def test_postgresql_pages_in_byte_order_whatever_the_database_locale(empty_postgresql_url):
    engine = make_engine(Settings(database_url=empty_postgresql_url))
    try:
        with schema_lock_transaction(engine) as conn:
            command.upgrade(alembic_config(conn), INITIAL_REVISION)
        with engine.begin() as conn:
            # What the first revision made of the column in a database created in an en_US
            # locale: the database's order, in which "_" sorts before "-".
            conn.exec_driver_sql(
                'ALTER TABLE images ALTER COLUMN name TYPE varchar(128) COLLATE "en-US-x-icu"'
            )
            rows = [asdict(record(n)) | {"id": i} for i, n in enumerate(LOCALE_SENSITIVE, 1)]
            conn.execute(insert(images), rows)
        # The repository reads columns of later revisions (changed_at): the order of its query
        # alone shows the database's order.
        with engine.connect() as conn:
            in_locale_order = conn.scalars(
                page_query("official", len(LOCALE_SENSITIVE), None, None).with_only_columns(
                    images.c.name
                )
            ).all()
        assert in_locale_order != sorted(LOCALE_SENSITIVE)

        migrate(empty_postgresql_url)

        assert walk_repository(engine, "official", limit=3) == sorted(LOCALE_SENSITIVE)
        assert walk_repository(engine, "official", limit=2, prefix="a_") == ["a__b", "a_b"]
    finally:
        engine.dispose()


def plan(engine: Engine, query) -> str | dict:
    """SQLite's query plan as text; PostgreSQL's as executed, with the rows each node read."""
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
            return "\n".join(row[-1] for row in rows)
        return conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").scalar_one()[0]


def plan_nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


CATALOG = 3000
LIMIT = 100


@pytest.mark.parametrize(
    ("where", "after"),
    [("first page", None), ("middle page", "img-01500"), ("last page", f"img-{CATALOG - 50:05d}")],
)
def test_a_page_reads_only_its_rows_from_the_index_wherever_it_starts(engine, where, after):
    repo = SqlImageRepository(engine)
    # Three namespaces, so that the one listed is neither the start nor the end of the index.
    repo.import_records(
        [
            record(f"img-{i:05d}", namespace=ns)
            for ns in ("a", "official", "z")
            for i in range(CATALOG)
        ]
    )
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE images")

    result = plan(engine, page_query("official", LIMIT, after, None))

    if engine.dialect.name == "sqlite":
        # A range search on the unique index, in its order: no scan, no sort.
        assert result.startswith("SEARCH images USING INDEX sqlite_autoindex_images_1"), result
        assert "namespace=?" in result and (after is None or "name>?" in result), result
        assert "TEMP B-TREE" not in result, result
    else:
        nodes = list(plan_nodes(result["Plan"]))
        scans = [n for n in nodes if "Scan" in n["Node Type"]]
        assert [n["Node Type"] for n in scans] == ["Index Scan"], nodes
        assert scans[0]["Index Name"] == "uq_images_namespace_name"
        assert not any(n["Node Type"] == "Sort" for n in nodes), nodes
        # The rows read, not a time: the same bound at the start and at the end.
        assert scans[0]["Actual Rows"] <= LIMIT + 1


def test_a_name_prefix_is_a_range_on_the_index(engine):
    repo = SqlImageRepository(engine)
    repo.import_records([record(f"img-{i:05d}") for i in range(CATALOG)])
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE images")

    result = plan(engine, page_query("official", LIMIT, None, "img-012"))

    if engine.dialect.name == "sqlite":
        assert "USING INDEX sqlite_autoindex_images_1 (namespace=? AND name>? AND name<?)" in result
    else:
        nodes = list(plan_nodes(result["Plan"]))
        on_index = [n for n in nodes if n.get("Index Name") == "uq_images_namespace_name"]
        assert on_index, nodes
        condition = on_index[0]["Index Cond"]
        assert "name)::text >= 'img-012'" in condition and "name)::text < 'img-013'" in condition
        assert not any(n["Node Type"] == "Seq Scan" for n in nodes), nodes


# --- a walk while an import runs ---------------------------------------------------------------


def catalog_file(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def image(name: str, **changes) -> dict:
    return {**NESTED_IMAGE, "namespace": "walk", "name": name, **changes}


BEFORE = 100  # images there before and after the imports


@pytest.mark.slow
def test_a_walk_during_imports_returns_every_lasting_image_exactly_once(
    empty_database_url, tmp_path
):
    lasting = [f"img-{i:04d}" for i in range(0, 2 * BEFORE, 2)]
    base = catalog_file(tmp_path / "base.jsonl", [image(n) for n in lasting])
    # Each import updates every lasting image and inserts new ones between and around them.
    imports = [
        catalog_file(
            tmp_path / f"import-{r}.jsonl",
            [image(n, star_count=r) for n in lasting]
            + [image(f"img-{i:04d}-r{r}") for i in range(-1, 2 * BEFORE + 1, 3)],
        )
        for r in range(1, 6)
    ]

    with start_loaded_server(empty_database_url, base) as server:
        env = {**os.environ, "SWR_DATABASE_URL": empty_database_url}
        first_import_done = threading.Event()
        stop = threading.Event()
        failures: list[str] = []
        done: list[int] = []

        def import_repeatedly() -> None:
            # The real CLI in processes of its own, one import after another, until the walk ends.
            for n, path in enumerate(imports * 20):
                if stop.is_set():
                    break
                result = subprocess.run(
                    [sys.executable, "-m", "swr_official_images", "import", str(path)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                if result.returncode != 0:
                    failures.append(result.stderr)
                    break
                done.append(n)
                first_import_done.set()
            first_import_done.set()

        importer = threading.Thread(target=import_repeatedly)
        importer.start()
        pages: list[list] = []

        def get(**query) -> Response:
            if len(pages) == 1:
                # At least one import lands between the first page and the next ones.
                assert first_import_done.wait(timeout=120)
            return list_official_images.sync_detailed("walk", client=client, **query)

        try:
            with client_for(server.base_url, server.tokens.valid) as client:
                follow(get, pages, limit=4)
        finally:
            stop.set()
            importer.join(timeout=180)

    names = [name for page in pages for name in page]
    assert not failures, failures
    assert done, "no import finished"
    # The walk crossed a changing catalog: it met images that an import inserted meanwhile.
    assert any("-r" in name for name in names)
    assert len(names) == len(set(names)), "an image came twice"
    assert names == sorted(names)
    assert set(lasting) <= set(names), sorted(set(lasting) - set(names))
