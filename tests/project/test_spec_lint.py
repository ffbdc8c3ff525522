"""Spectral's rules for openapi.yaml (.spectral.yaml): the spec passes them, and each of our
rules catches the fault it exists for, while the additions the API expects (a text/plain
endpoint, a 304 without a body) pass."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPECTRAL = ROOT / "node_modules" / ".bin" / "spectral"
IMAGE_PATH = "/v2/manage/dockerhub/namespaces/{namespace}/repos/{repository}"

pytestmark = [
    pytest.mark.skipif(
        not SPECTRAL.exists(),
        reason="Spectral is not installed: `make node-tools` (run by `make lint` and `make test`)",
    ),
    pytest.mark.slow,  # each test runs Spectral in Node.js; `make lint` lints the spec itself
]


def lint(tmp_path: Path, spec: dict) -> list[tuple[str, str]]:
    """Spectral's findings on a spec, as (rule, JSON path) pairs."""
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(spec))
    result = subprocess.run(
        [
            str(SPECTRAL),
            "lint",
            str(path),
            "--ruleset",
            str(ROOT / ".spectral.yaml"),
            "--format",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return sorted({(d["code"], ".".join(map(str, d["path"]))) for d in json.loads(result.stdout)})


@pytest.fixture(scope="module")
def spec() -> dict:
    # Through JSON: YAML anchors share one object between responses, and a mutation must hit one.
    return json.loads(json.dumps(yaml.safe_load((ROOT / "openapi.yaml").read_text())))


def test_spec_passes_with_no_warnings():
    result = subprocess.run(
        [str(SPECTRAL), "lint", "openapi.yaml", "--fail-severity", "warn"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_rule_catches_its_fault(tmp_path, spec):
    spec = copy.deepcopy(spec)
    path = spec["paths"][IMAGE_PATH]
    responses = spec["components"]["responses"]
    del path["get"]["operationId"]
    del path["head"]["tags"]
    del path["options"]["description"]
    del spec["components"]["parameters"]["namespace"]["example"]
    spec["components"]["parameters"]["marker"]["example"] = "nginx"
    del path["get"]["responses"]["200"]["content"]["application/json"]["example"]
    del responses["NoRoute"]["headers"]["X-Request-Id"]
    responses["NotFound"]["content"]["application/json"]["schema"] = {"type": "object"}
    del responses["InternalError"]["content"]
    responses["NotFoundNoBody"]["content"] = responses["NotFound"]["content"]
    findings = lint(tmp_path, spec)
    rules = {rule for rule, _ in findings}
    assert rules == {
        "operation-operationId",
        "operation-tags",
        "operation-description",
        "swr-parameter-example",
        "swr-optional-parameter-no-example",
        "swr-media-example",
        "swr-response-request-id",
        "swr-error-schema",
        "swr-error-body",
        "swr-head-no-body",
    }, findings


def test_error_body_must_be_the_error_schema_under_any_media_type(tmp_path, spec):
    spec = copy.deepcopy(spec)
    error = spec["components"]["responses"]["InternalError"]
    error["content"]["text/plain"] = {"schema": {"type": "string"}, "example": "failed"}
    assert {rule for rule, _ in lint(tmp_path, spec)} == {"swr-error-schema"}


def test_a_refused_method_documents_its_error_body(tmp_path, spec):
    spec = copy.deepcopy(spec)
    del spec["components"]["responses"]["MethodNotAllowed"]["headers"]["X-Request-Id"]
    spec["components"]["responses"]["MethodNotAllowed"]["content"]["application/json"]["schema"] = {
        "type": "object"
    }
    assert {rule for rule, _ in lint(tmp_path, spec)} == {
        "swr-response-request-id",
        "swr-error-schema",
    }


def test_honest_additions_pass(tmp_path, spec):
    """A text/plain 200 (metrics), a 304 without a body and a 505 with the error body."""
    spec = copy.deepcopy(spec)
    headers = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
    spec["paths"]["/metrics"] = {
        "get": {
            "operationId": "show_metrics",
            "tags": ["Official images"],
            "description": "Metrics in Prometheus' text format.",
            "responses": {
                "200": {
                    "description": "The metrics.",
                    "headers": headers,
                    "content": {
                        "text/plain": {
                            "schema": {"type": "string"},
                            "example": "swr_requests_total 1\n",
                        }
                    },
                },
                "505": {"$ref": "#/components/responses/InternalError"},
            },
        }
    }
    spec["paths"][IMAGE_PATH]["get"]["responses"]["304"] = {
        "description": "Not modified.",
        "headers": headers,
    }
    assert lint(tmp_path, spec) == []
