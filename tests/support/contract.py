"""Expectations read from openapi.yaml, so that the tests and the spec cannot drift apart."""

from __future__ import annotations

import re
from typing import Any

OPERATION_PATH = "/v2/manage/dockerhub/namespaces/{namespace}/repos/{repository}"
LIST_PATH = "/v2/manage/dockerhub/namespaces/{namespace}/repos"


def resolve(spec: dict, node: dict) -> dict:
    """Follow a local $ref ("#/components/...") to the node it names."""
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def response_of(spec: dict, status: int, method: str = "get", path: str = OPERATION_PATH) -> dict:
    return resolve(spec, spec["paths"][path][method]["responses"][str(status)])


def documented_statuses(spec: dict, method: str = "get", path: str = OPERATION_PATH) -> set[int]:
    return {int(s) for s in spec["paths"][path][method]["responses"]}


def expected_cache_control(
    spec: dict, status: int, method: str = "get", path: str | None = None
) -> str:
    """The Cache-Control the spec gives a response: an image's 200 and 304 may be kept and
    revalidated, everything else (errors, probes, statuses a method does not list) no-store."""
    operation = spec["paths"].get(path or OPERATION_PATH, {}).get(method.lower(), {})
    response = operation.get("responses", {}).get(str(status))
    if response is None:
        return "no-store"
    header = resolve(spec, resolve(spec, response).get("headers", {})["Cache-Control"])
    return header["schema"]["enum"][0]


def expected_error_code(spec: dict, status: int, path: str = OPERATION_PATH) -> str:
    """The SWR error code the spec's example gives for an error status of GET on `path`."""
    response = response_of(spec, status, path=path)
    return response["content"]["application/json"]["example"]["error_code"]


def request_id_pattern(spec: dict) -> re.Pattern[str]:
    header = resolve(spec, spec["components"]["headers"]["X-Request-Id"])
    schema = header["schema"]
    return re.compile(schema["pattern"]), schema["maxLength"]


def assert_request_id(spec: dict, headers, body: dict | None = None) -> str:
    pattern, max_length = request_id_pattern(spec)
    request_id = headers.get("x-request-id")
    assert request_id, f"no X-Request-Id in {dict(headers)}"
    assert pattern.match(request_id) and len(request_id) <= max_length, request_id
    if body is not None:
        assert body["request_id"] == request_id, (body, request_id)
    return request_id


def path_for(namespace: str, repository: str) -> str:
    return OPERATION_PATH.format(namespace=namespace, repository=repository)


def list_path_for(namespace: str) -> str:
    return LIST_PATH.format(namespace=namespace)
