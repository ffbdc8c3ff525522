"""The metrics are built from their definitions (ops.metrics.METRICS), which a table of them
can be generated from: a scrape shows exactly the metrics defined, as defined."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from swr_official_images.ops.metrics import METRICS, LabelSets, Metrics

LABELS = LabelSets(
    auth_failures=("missing", "unknown"),
    transport_refusals=("not_http",),
    connections_closed=("idle",),
)


def scraped() -> dict[str, object]:
    metrics = Metrics("1.2.3", "4.5.6", LABELS)
    text = metrics.exposition().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_a_scrape_shows_every_defined_metric_with_its_kind_and_help():
    families = scraped()
    assert set(families) == {definition.name for definition in METRICS}
    for definition in METRICS:
        family = families[definition.name]
        assert family.type == definition.kind, definition.name
        assert family.documentation == definition.documentation, definition.name


def test_each_definition_is_an_attribute_of_metrics_with_its_labels():
    metrics = Metrics("1.2.3", "4.5.6", LABELS)
    for definition in METRICS:
        metric = getattr(metrics, definition.attribute)
        assert metric._labelnames == definition.labels, definition.name


def test_the_label_sets_from_the_app_are_series_from_the_start():
    families = scraped()
    reasons = {s.labels["reason"] for s in families["swr_auth_failures"].samples}
    assert reasons == set(LABELS.auth_failures)
    assert {s.labels["reason"] for s in families["swr_http_refusals"].samples} == {"not_http"}
    assert {s.labels["reason"] for s in families["swr_connections_closed"].samples} == {"idle"}
    (build,) = families["swr_build_info"].samples
    assert build.labels == {"version": "1.2.3", "spec_version": "4.5.6"}
