"""Deterministic benchmark catalogs: N valid image records, written as JSON Lines.

Records come from one seeded random stream in index order, so a catalog of 200 records is the
first 200 records of the 1,000,000-record one, and writing the same size twice gives the same
bytes (which is what makes a re-import "all unchanged").

Sizes follow the real catalog: a one-line description, a full description of a few hundred
bytes, counts spread over orders of magnitude, dates over a decade.

    python -m bench.catalog --records 5000 catalog.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from bench.report import note

NAMESPACE = "official"
# printf-style, so that lookup.lua can format random picks with the very same template.
NAME_TEMPLATE = "bench-image-%07d"
# The lookup benchmark's path to image `index`; only the name part varies.
IMAGE_PATH_TEMPLATE = f"/v2/manage/dockerhub/namespaces/{NAMESPACE}/repos/{NAME_TEMPLATE}"

_SEED = 20_240_601
_FIRST_UPDATE = datetime(2015, 1, 1)
_UPDATE_SPAN_SECONDS = int(timedelta(days=11 * 365).total_seconds())

_PRODUCTS = (
    "Nginx", "Redis", "PostgreSQL", "Alpine", "Node.js", "Python", "Go", "Rust", "MariaDB",
    "RabbitMQ", "Traefik", "Memcached", "Elasticsearch", "Tomcat", "HAProxy", "Caddy", "Kafka",
    "ZooKeeper", "Cassandra", "InfluxDB", "Grafana", "Jenkins", "Ghost", "WordPress", "Drupal",
)  # fmt: skip
_KINDS = (
    "web server", "in-memory data store", "object-relational database", "minimal base image",
    "JavaScript runtime", "language runtime", "message broker", "reverse proxy", "search engine",
    "servlet container", "load balancer", "time series database", "automation server", "CMS",
)  # fmt: skip
_SENTENCES = (
    "This image is maintained by the upstream project and rebuilt for every security update.",
    "Tags follow the upstream release numbers; `latest` points at the newest stable release.",
    "Configuration is read from environment variables and from files mounted under /etc.",
    "Data written to the volume survives container restarts and upgrades of the image.",
    "The image runs as an unprivileged user by default and exposes its standard port.",
    "Variants built on Alpine Linux are much smaller but use musl instead of glibc.",
    "Health checks, logging to stdout and graceful shutdown on SIGTERM are supported.",
    "See the documentation for supported architectures, volumes and initialization scripts.",
    "Report issues with the image itself to the maintainers' repository, not upstream.",
    "Licensing information for the software contained in this image is available upstream.",
)


def image_name(index: int) -> str:
    return NAME_TEMPLATE % index


def _full_description(rng: random.Random, title: str) -> str:
    # A short Markdown page: a heading and four to seven sentences, roughly 350-650 bytes.
    body = " ".join(rng.sample(_SENTENCES, rng.randint(4, 7)))
    return f"# {title}\n\n{body}"


def generate_records(count: int) -> Iterator[dict[str, object]]:
    """The first `count` benchmark records, in the order they are written and imported."""
    rng = random.Random(_SEED)  # noqa: S311 (reproducible test data, not secrets)
    for index in range(count):
        product, kind = rng.choice(_PRODUCTS), rng.choice(_KINDS)
        updated = _FIRST_UPDATE + timedelta(seconds=rng.randrange(_UPDATE_SPAN_SECONDS))
        yield {
            "user": NAMESPACE,
            "name": image_name(index),
            "namespace": NAMESPACE,
            "description": f"Official build of {product}, the {kind}.",
            "full_description": _full_description(rng, f"{product} ({image_name(index)})"),
            # Log-uniform, like real popularity: most images are obscure, a few are huge.
            "star_count": int(10 ** rng.uniform(0, 5)) - 1,
            "pull_count": int(10 ** rng.uniform(2, 9.5)),
            "collection_id": 0 if rng.random() < 0.9 else rng.randrange(1, 1_000_000),
            "last_updated": updated.strftime("%Y-%m-%d %H:%M:%S"),
        }


def write_catalog(path: Path, count: int) -> Path:
    """Write `count` records to `path` as JSON Lines (one record per line)."""
    with path.open("w", encoding="utf-8") as out:
        for record in generate_records(count):
            out.write(json.dumps(record, separators=(",", ":")))
            out.write("\n")
    return path


def generated_catalog(workdir: Path, count: int) -> Path:
    """A catalog of `count` records written into `workdir`, with a note of what it took."""
    started = time.perf_counter()
    path = write_catalog(workdir / f"catalog-{count}.jsonl", count)
    size_mb = path.stat().st_size / 1e6
    note(
        f"generated {count:,} records ({size_mb:,.0f} MB) in {time.perf_counter() - started:.1f} s"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.catalog", description="Write a benchmark catalog as JSON Lines."
    )
    parser.add_argument("--records", type=int, default=1_000_000, help="default: 1,000,000")
    parser.add_argument("output", type=Path, help="the .jsonl file to write")
    args = parser.parse_args()
    write_catalog(args.output, args.records)


if __name__ == "__main__":
    main()
