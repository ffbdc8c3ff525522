"""Prometheus metrics (prometheus-client), one set per app.

With several worker processes (`serve --workers N`), `serve` points PROMETHEUS_MULTIPROC_DIR at a
fresh directory before prometheus_client is imported anywhere; every worker then writes its
values to memory-mapped files there and a scrape of any worker sums them all.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from swr_official_images.ops.workers import MULTIPROC_ENV

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

AUTH_SCHEMES = ("token", "aksk")

# Requests outside the spec's operations: a path that matches nothing, Swagger UI, the spec,
# and requests the HTTP transport answers itself before any routing
# (swr_official_images.http.transport).
NO_OPERATION = "none"
UI_OPERATION = "swagger_ui"
SPEC_OPERATION = "openapi_spec"
REFUSED_OPERATION = "http_refused"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# A scrape counts the catalog at most this often per process: counting a million rows is not
# free, and the catalog changes only by imports.
CATALOG_SIZE_MAX_AGE = 30.0

# The *_created series double a scrape and tell nothing a counter's reset does not.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


@dataclass(frozen=True)
class LabelSets:
    """The reasons the layers above report, each a bounded set that the app hands in: every
    reason is a series from the start (at zero), so that a rate over them is defined."""

    # Why a request was refused with 401 (swr_official_images.http.security).
    auth_failures: tuple[str, ...]
    # Why the HTTP transport answered a request itself, and why it closed a connection without
    # an answer (swr_official_images.http.transport).
    transport_refusals: tuple[str, ...]
    connections_closed: tuple[str, ...]


@dataclass(frozen=True)
class MetricDefinition:
    """One metric the service exposes: `attribute` names it on `Metrics`; `kind` is counter,
    gauge or histogram. A counter's series are exposed with the suffix `_total`."""

    attribute: str
    kind: str
    name: str
    documentation: str
    labels: tuple[str, ...] = ()
    # A gauge's aggregation across worker processes (prometheus_client's multiprocess_mode).
    multiprocess_mode: str | None = None
    buckets: tuple[float, ...] | None = None


# Every metric, in the order a scrape lists them: the registry is built from these, and a
# table of them can be too.
METRICS = (
    MetricDefinition(
        "requests",
        "counter",
        "swr_http_requests",
        "HTTP requests answered, by operationId and status.",
        ("operation", "status"),
    ),
    MetricDefinition(
        "latency",
        "histogram",
        "swr_http_request_duration_seconds",
        "Time from a request's arrival to the end of its response, by operationId.",
        ("operation",),
        buckets=LATENCY_BUCKETS,
    ),
    MetricDefinition(
        "in_flight",
        "gauge",
        "swr_http_requests_in_flight",
        "Requests being answered.",
        multiprocess_mode="livesum",
    ),
    MetricDefinition(
        "auth_failures",
        "counter",
        "swr_auth_failures",
        "Requests refused with 401, by reason: missing, duplicate, ambiguous (a token and a "
        "signature), unknown, expired, revoked (tokens), aksk_* (signatures).",
        ("reason",),
    ),
    MetricDefinition(
        "authenticated",
        "counter",
        "swr_authenticated_requests",
        "Requests that authenticated, whatever their status, by scheme: token or aksk.",
        ("scheme",),
    ),
    MetricDefinition(
        "database_errors",
        "counter",
        "swr_database_errors",
        "Requests that failed on a database error.",
    ),
    MetricDefinition(
        "transport_refusals",
        "counter",
        "swr_http_refusals",
        "Requests the HTTP layer answered itself, before routing, by reason: uri_too_long "
        "(414), headers_too_large (431), not_http (400), has_body (400), bad_version (505).",
        ("reason",),
    ),
    MetricDefinition(
        "connections_closed",
        "counter",
        "swr_connections_closed",
        "Connections the server closed without an answer, by reason: head_timeout (no "
        "complete request head in time), idle (neither side made progress).",
        ("reason",),
    ),
    MetricDefinition(
        "catalog_size",
        "gauge",
        "swr_catalog_images",
        "Images in the catalog (counted at scrape time, at most every 30 s).",
        multiprocess_mode="mostrecent",
    ),
    MetricDefinition(
        "build_info",
        "gauge",
        "swr_build_info",
        "Always 1; the labels name the service's and the API spec's versions.",
        ("version", "spec_version"),
        multiprocess_mode="max",
    ),
)

_KINDS: dict[str, type[Counter] | type[Gauge] | type[Histogram]] = {
    "counter": Counter,
    "gauge": Gauge,
    "histogram": Histogram,
}


def _build(definition: MetricDefinition, registry: CollectorRegistry | None) -> Any:
    options: dict[str, Any] = {"registry": registry}
    if definition.multiprocess_mode is not None:
        options["multiprocess_mode"] = definition.multiprocess_mode
    if definition.buckets is not None:
        options["buckets"] = definition.buckets
    kind = _KINDS[definition.kind]
    return kind(definition.name, definition.documentation, definition.labels, **options)


class Metrics:
    requests: Counter
    latency: Histogram
    in_flight: Gauge
    auth_failures: Counter
    authenticated: Counter
    database_errors: Counter
    transport_refusals: Counter
    connections_closed: Counter
    catalog_size: Gauge
    build_info: Gauge

    def __init__(self, service_version: str, spec_version: str, labels: LabelSets) -> None:
        self._multiprocess = multiprocess_dir() is not None
        # In one process, the app's own registry (several apps may live in one test process);
        # with workers, values live in the shared directory and a scrape reads them from there.
        self.registry = None if self._multiprocess else CollectorRegistry()
        for definition in METRICS:
            setattr(self, definition.attribute, _build(definition, self.registry))
        self.build_info.labels(service_version, spec_version).set(1)
        # Present at zero from the start, so that a rate over them is defined; kept, so that a
        # request counts itself without labels()' lock and lookups.
        self._auth_failure_counts: dict[str, Counter] = {
            reason: self.auth_failures.labels(reason) for reason in labels.auth_failures
        }
        self._authenticated_counts: dict[str, Counter] = {
            scheme: self.authenticated.labels(scheme) for scheme in AUTH_SCHEMES
        }
        for reason in labels.transport_refusals:
            self.transport_refusals.labels(reason)
        for reason in labels.connections_closed:
            self.connections_closed.labels(reason)
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._catalog_counted_at = -CATALOG_SIZE_MAX_AGE

    def observe(self, operation: str, status: int, seconds: float) -> None:
        children = self._children.get((operation, status))
        if children is None:
            # Both labels come from bounded sets (the spec's operationIds and statuses), so this
            # cache stays small; it saves labels()' lock and lookups on every request.
            children = (
                self.requests.labels(operation, str(status)),
                self.latency.labels(operation),
            )
            self._children[(operation, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_auth_failure(self, reason: str) -> None:
        counter = self._auth_failure_counts.get(reason)
        (self.auth_failures.labels(reason) if counter is None else counter).inc()

    def count_authenticated(self, scheme: str) -> None:
        counter = self._authenticated_counts.get(scheme)
        (self.authenticated.labels(scheme) if counter is None else counter).inc()

    def refresh_catalog_size(self, count: Callable[[], int]) -> None:
        now = time.monotonic()
        if now - self._catalog_counted_at >= CATALOG_SIZE_MAX_AGE:
            self.catalog_size.set(count())
            self._catalog_counted_at = now

    def exposition(self) -> bytes:
        if self.registry is not None:
            return generate_latest(self.registry)
        path = multiprocess_dir()
        _forget_dead_workers(path)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
        return generate_latest(registry)

    def process_exiting(self) -> None:
        if self._multiprocess:
            multiprocess.mark_process_dead(os.getpid(), multiprocess_dir())  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated


def _forget_dead_workers(path: str | None) -> None:
    """A worker that died without shutting down still has its in-flight gauge on disk; uvicorn
    replaces it with a new one, so its requests would count as in flight for ever."""
    if not path:
        return
    for name in os.listdir(path):
        match = _LIVE_GAUGE_FILE.match(name)
        if match and not _alive(int(match.group(1))):
            multiprocess.mark_process_dead(int(match.group(1)), path)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
