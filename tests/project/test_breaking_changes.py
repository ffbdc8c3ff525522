"""The breaking-change check (tools/breaking.py) and `make release` (tools/release.py): one test
per rule, the additions that must pass, and the major-version escape."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tools.breaking import breaking_changes
from tools.breaking import main as check_main
from tools.release import release

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "/v2/manage/dockerhub/namespaces/{namespace}/repos/{repository}"
GET = f"GET {IMAGE}"


@pytest.fixture(scope="module")
def released() -> dict:
    # Through JSON: YAML anchors share one object between responses, and a change must hit one.
    return json.loads(json.dumps(yaml.safe_load((ROOT / "openapi.released.yaml").read_text())))


@pytest.fixture
def new(released) -> dict:
    return copy.deepcopy(released)


def image_schema(spec: dict) -> dict:
    return spec["components"]["schemas"]["OfficialImage"]


@pytest.mark.slow
def test_the_spec_keeps_clients_of_the_last_release_working():
    result = subprocess.run(
        ["make", "-s", "check-breaking"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_removed_path(released, new):
    del new["paths"][IMAGE]
    assert breaking_changes(released, new) == [f"{IMAGE}: path removed"]


def test_a_removed_operation(released, new):
    del new["paths"][IMAGE]["head"]
    assert breaking_changes(released, new) == [f"HEAD {IMAGE}: operation removed"]


def test_a_removed_response_field(released, new):
    del image_schema(new)["properties"]["star_count"]
    image_schema(new)["required"].remove("star_count")
    assert breaking_changes(released, new) == [
        f"{GET} 200 application/json field 'star_count': response field removed"
    ]


def test_a_response_field_that_may_now_be_absent(released, new):
    image_schema(new)["required"].remove("pull_count")
    assert breaking_changes(released, new) == [
        f"{GET} 200 application/json field 'pull_count': response field may now be absent"
    ]


def test_a_response_field_that_may_now_be_null(released, new):
    image_schema(new)["properties"]["description"]["nullable"] = True
    assert breaking_changes(released, new) == [
        f"{GET} 200 application/json field 'description': may now be null"
    ]


def test_a_removed_response_header(released, new):
    del new["components"]["responses"]["NotFound"]["headers"]["Cache-Control"]
    assert breaking_changes(released, new) == [f"{GET} 404: response header Cache-Control removed"]


def test_a_removed_enum_value(released, new):
    new["components"]["headers"]["Allow"]["schema"]["enum"] = ["GET, OPTIONS"]
    assert breaking_changes(released, new) == [
        f"OPTIONS {IMAGE} 204 header Allow: enum values removed: ['GET, HEAD, OPTIONS']"
    ]


def test_an_enum_value_added_to_a_response_body(released):
    # The generated client checks such a field against the values it knows and raises on another.
    old = copy.deepcopy(released)
    image_schema(old)["properties"]["namespace"]["enum"] = ["library"]
    new = copy.deepcopy(old)
    image_schema(new)["properties"]["namespace"]["enum"] = ["library", "official"]
    assert breaking_changes(old, new) == [
        f"{GET} 200 application/json field 'namespace': "
        "enum values added to a response: ['official']"
    ]


def test_an_enum_value_added_to_a_response_header_keeps_clients_working(released, new):
    # Headers reach a generated client as plain strings.
    new["components"]["headers"]["Allow"]["schema"]["enum"].append("GET, HEAD, OPTIONS, POST")
    assert breaking_changes(released, new) == []


def test_a_changed_type(released, new):
    image_schema(new)["properties"]["star_count"]["type"] = "string"
    assert breaking_changes(released, new) == [
        f"{GET} 200 application/json field 'star_count': type changed from integer to string"
    ]


def test_a_narrowed_pattern(released, new):
    new["components"]["parameters"]["namespace"]["schema"]["pattern"] = "^[a-z]+$"
    assert breaking_changes(released, new) == [
        f"{method} {IMAGE} path parameter 'namespace': pattern added or changed (narrowed)"
        for method in ("GET", "OPTIONS", "HEAD")
    ]


def test_a_narrowed_length(released, new):
    new["components"]["parameters"]["repository"]["schema"]["maxLength"] = 64
    assert breaking_changes(released, new) == [
        f"{method} {IMAGE} path parameter 'repository': maxLength lowered to 64 (narrowed)"
        for method in ("GET", "OPTIONS", "HEAD")
    ]


def test_a_new_required_parameter(released, new):
    new["paths"][IMAGE]["get"]["parameters"] = [
        {"name": "tag", "in": "query", "required": True, "schema": {"type": "string"}}
    ]
    assert breaking_changes(released, new) == [f"{GET}: new required query parameter 'tag'"]


def test_an_optional_parameter_made_required(released, new):
    parameter = {"name": "tag", "in": "query", "schema": {"type": "string"}}
    released = copy.deepcopy(released)
    released["paths"][IMAGE]["get"]["parameters"] = [parameter]
    new["paths"][IMAGE]["get"]["parameters"] = [{**parameter, "required": True}]
    assert breaking_changes(released, new) == [f"{GET}: query parameter 'tag' is now required"]


def test_additions_keep_clients_working(released, new):
    """A new path, an optional parameter, header and field, a 304, a wider name."""
    request_id = {"$ref": "#/components/headers/X-Request-Id"}
    new["paths"]["/healthz"] = {
        "get": {
            "responses": {"200": {"description": "ok", "headers": {"X-Request-Id": request_id}}}
        }
    }
    get = new["paths"][IMAGE]["get"]
    get["parameters"] = [{"name": "fields", "in": "query", "schema": {"type": "string"}}]
    get["responses"]["304"] = {
        "description": "Not modified",
        "headers": {"X-Request-Id": request_id},
    }
    get["responses"]["200"]["headers"]["ETag"] = {"schema": {"type": "string"}}
    image_schema(new)["properties"]["tags"] = {"type": "array", "items": {"type": "string"}}
    new["components"]["parameters"]["repository"]["schema"]["maxLength"] = 255
    del new["components"]["parameters"]["namespace"]["schema"]["pattern"]
    assert breaking_changes(released, new) == []


def write_specs(tmp_path: Path, new: dict, version: str) -> tuple[Path, Path]:
    new["info"]["version"] = version
    old_path, new_path = tmp_path / "openapi.released.yaml", tmp_path / "openapi.yaml"
    shutil.copyfile(ROOT / "openapi.released.yaml", old_path)
    new_path.write_text(yaml.safe_dump(new))
    return old_path, new_path


@pytest.mark.parametrize(("version", "code"), [("1.1.0", 1), ("2.0.0", 0)])
def test_only_a_new_major_version_may_break_clients(tmp_path, new, capsys, version, code):
    del new["paths"][IMAGE]["head"]
    old_path, new_path = write_specs(tmp_path, new, version)
    assert check_main([str(old_path), str(new_path)]) == code
    out, err = capsys.readouterr()
    assert f"HEAD {IMAGE}: operation removed" in (out if code == 0 else err)


def test_release_needs_a_raised_version_and_a_changelog_section(tmp_path, new):
    image_schema(new)["properties"]["tags"] = {"type": "array", "items": {"type": "string"}}
    write_specs(tmp_path, new, "1.0.0")
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n## Unreleased\n\n## 1.0.0\n")
    with pytest.raises(SystemExit, match=re.escape("raise info.version")):
        release(tmp_path)
    write_specs(tmp_path, new, "1.1.0")
    with pytest.raises(SystemExit, match=re.escape("first section must be '## 1.1.0'")):
        release(tmp_path)
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n## 1.1.0\n\n## 1.0.0\n")
    assert release(tmp_path).startswith("released 1.1.0")
    assert (tmp_path / "openapi.released.yaml").read_text() == (
        tmp_path / "openapi.yaml"
    ).read_text()


def test_release_refuses_to_break_clients_in_a_minor_version(tmp_path, new):
    del new["paths"][IMAGE]["options"]
    write_specs(tmp_path, new, "1.1.0")
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n## 1.1.0\n")
    with pytest.raises(SystemExit, match=re.escape(f"OPTIONS {IMAGE}: operation removed")):
        release(tmp_path)
    assert (
        yaml.safe_load((tmp_path / "openapi.released.yaml").read_text())["info"]["version"]
        == "1.0.0"
    )
