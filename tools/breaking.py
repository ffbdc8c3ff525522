"""Fail on a change to openapi.yaml that breaks clients of the last released spec.

The rules, and only these: a removed path or operation; a removed response field, header or
enum value; a value added to an enum of a response body (the generated client checks such a
field against the values it knows and raises TypeError on another); a response field that was
always there and may now be absent (or null); a type that changed; a request value narrowed (a
pattern added or changed, a tighter length or range, a format or enum added, null no longer
accepted); a new required parameter or request body field, or an optional one made required; a
removed parameter (the service refuses unknown query parameters). A pattern cannot be compared
with another, so any change to one counts as a narrowing. Raising the major part of
info.version allows them all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Request-side keywords where a larger (max) or smaller (min) value accepts less.
UPPER_BOUNDS = ("maxLength", "maximum", "maxItems", "maxProperties")
LOWER_BOUNDS = ("minLength", "minimum", "minItems", "minProperties")
COMBINATIONS = ("allOf", "anyOf", "oneOf", "not")

Spec = dict[str, Any]


def load(path: Path) -> Spec:
    spec: Spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    return spec


def major(version: str) -> int:
    return int(str(version).split(".")[0])


class Resolver:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    def __call__(self, node: Any) -> Any:
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen or not ref.startswith("#/"):
                raise ValueError(f"cannot follow $ref {ref!r}")
            seen.add(ref)
            node = self.spec
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node


def breaking_changes(old: Spec, new: Spec) -> list[str]:
    """Every change from old to new that breaks a client of old, as one line each."""
    return Comparison(old, new).run()


class Comparison:
    def __init__(self, old: Spec, new: Spec) -> None:
        self.old, self.new = Resolver(old), Resolver(new)
        self.old_spec, self.new_spec = old, new
        self.found: list[str] = []

    def report(self, where: str, what: str) -> None:
        self.found.append(f"{where}: {what}")

    def run(self) -> list[str]:
        old_paths = self.old_spec.get("paths", {})
        new_paths = self.new_spec.get("paths", {})
        for path, old_item in old_paths.items():
            if path not in new_paths:
                self.report(path, "path removed")
                continue
            old_item, new_item = self.old(old_item), self.new(new_paths[path])
            for method in METHODS:
                if method not in old_item:
                    continue
                where = f"{method.upper()} {path}"
                if method not in new_item:
                    self.report(where, "operation removed")
                    continue
                self.operation(where, old_item, new_item, method)
        return self.found

    def parameters(
        self, resolve: Resolver, item: Spec, operation: Spec
    ) -> dict[tuple[str, str], Spec]:
        merged = {}
        for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
            parameter = resolve(parameter)
            merged[(parameter["in"], parameter["name"].lower())] = parameter
        return merged

    def operation(self, where: str, old_item: Spec, new_item: Spec, method: str) -> None:
        old_op, new_op = self.old(old_item[method]), self.new(new_item[method])
        old_params = self.parameters(self.old, old_item, old_op)
        new_params = self.parameters(self.new, new_item, new_op)
        for key, parameter in new_params.items():
            name = f"{key[0]} parameter {parameter['name']!r}"
            if key not in old_params:
                if parameter.get("required"):
                    self.report(where, f"new required {name}")
            elif parameter.get("required") and not old_params[key].get("required"):
                self.report(where, f"{name} is now required")
        for key, parameter in old_params.items():
            name = f"{key[0]} parameter {parameter['name']!r}"
            if key not in new_params:
                self.report(where, f"{name} removed")
            elif "schema" in parameter and "schema" in new_params[key]:
                self.request_schema(
                    f"{where} {name}", parameter["schema"], new_params[key]["schema"]
                )

        old_body, new_body = (
            self.old(old_op.get("requestBody")),
            self.new(new_op.get("requestBody")),
        )
        if new_body and new_body.get("required") and not (old_body and old_body.get("required")):
            self.report(where, "the request body is now required")
        if old_body and new_body:
            for media, content in old_body.get("content", {}).items():
                new_content = new_body.get("content", {}).get(media)
                if new_content is None:
                    self.report(where, f"request body {media} no longer accepted")
                elif "schema" in content and "schema" in new_content:
                    self.request_schema(
                        f"{where} request body", content["schema"], new_content["schema"]
                    )

        new_responses = new_op.get("responses", {})
        for status, old_response in old_op.get("responses", {}).items():
            if status not in new_responses:
                continue  # a status that no longer happens needs no handling
            self.response(
                f"{where} {status}", self.old(old_response), self.new(new_responses[status])
            )

    def response(self, where: str, old: Spec, new: Spec) -> None:
        new_headers = {name.lower(): header for name, header in new.get("headers", {}).items()}
        for name, header in old.get("headers", {}).items():
            header, new_header = self.old(header), self.new(new_headers.get(name.lower()))
            if new_header is None:
                self.report(where, f"response header {name} removed")
                continue
            if header.get("required") and not new_header.get("required"):
                self.report(where, f"response header {name} may now be absent")
            if "schema" in header and "schema" in new_header:
                # Header values reach a generated client as plain strings: a new enum value in
                # one breaks nothing there.
                self.response_schema(
                    f"{where} header {name}", header["schema"], new_header["schema"], body=False
                )
        for media, content in old.get("content", {}).items():
            new_content = new.get("content", {}).get(media)
            if new_content is None:
                self.report(where, f"response body {media} removed")
            elif "schema" in content and "schema" in new_content:
                self.response_schema(f"{where} {media}", content["schema"], new_content["schema"])

    def common(self, where: str, old: Spec, new: Spec) -> bool:
        """Checks for both directions; False when the schemas cannot be compared further."""
        for keyword in COMBINATIONS:
            if old.get(keyword) != new.get(keyword):
                self.report(where, f"{keyword} changed (not compared: treated as breaking)")
                return False
        if old.get("type") != new.get("type") and "type" in old:
            self.report(where, f"type changed from {old.get('type')} to {new.get('type')}")
            return False
        if "enum" in old:
            kept = new["enum"] if "enum" in new else old["enum"]
            removed = [value for value in old["enum"] if value not in kept]
            if removed:
                self.report(where, f"enum values removed: {removed}")
        return True

    def response_schema(self, where: str, old: Any, new: Any, body: bool = True) -> None:
        old, new = self.old(old), self.new(new)
        if not self.common(where, old, new):
            return
        if body and "enum" in old and "enum" in new:
            added = [value for value in new["enum"] if value not in old["enum"]]
            if added:
                self.report(where, f"enum values added to a response: {added}")
        if not old.get("nullable") and new.get("nullable"):
            self.report(where, "may now be null")
        new_properties = new.get("properties", {})
        new_required = set(new.get("required", []))
        for name, schema in old.get("properties", {}).items():
            field = f"{where} field {name!r}"
            if name not in new_properties:
                self.report(field, "response field removed")
                continue
            if name in old.get("required", []) and name not in new_required:
                self.report(field, "response field may now be absent")
            self.response_schema(field, schema, new_properties[name])
        if "items" in old and "items" in new:
            self.response_schema(f"{where} items", old["items"], new["items"])

    def request_schema(self, where: str, old: Any, new: Any) -> None:
        old, new = self.old(old), self.new(new)
        if not self.common(where, old, new):
            return
        if "enum" in new and "enum" not in old:
            self.report(where, "an enum now restricts the values")
        if new.get("pattern") is not None and new.get("pattern") != old.get("pattern"):
            self.report(where, "pattern added or changed (narrowed)")
        if new.get("format") is not None and new.get("format") != old.get("format"):
            self.report(where, "format added or changed (narrowed)")
        if old.get("nullable") and not new.get("nullable"):
            self.report(where, "null is no longer accepted")
        for keyword in UPPER_BOUNDS:
            if keyword in new and (keyword not in old or new[keyword] < old[keyword]):
                self.report(where, f"{keyword} lowered to {new[keyword]} (narrowed)")
        for keyword in LOWER_BOUNDS:
            if keyword in new and (keyword not in old or new[keyword] > old[keyword]):
                self.report(where, f"{keyword} raised to {new[keyword]} (narrowed)")
        for keyword in ("exclusiveMinimum", "exclusiveMaximum"):
            if new.get(keyword) and not old.get(keyword):
                self.report(where, f"{keyword} added (narrowed)")
        old_properties = old.get("properties", {})
        old_required = set(old.get("required", []))
        for name in set(new.get("required", [])) - old_required:
            self.report(f"{where} field {name!r}", "request field is now required")
        for name, schema in new.get("properties", {}).items():
            if name in old_properties:
                self.request_schema(f"{where} field {name!r}", old_properties[name], schema)
        if "items" in old and "items" in new:
            self.request_schema(f"{where} items", old["items"], new["items"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("released", type=Path, help="the last released spec (the baseline)")
    parser.add_argument("current", type=Path, help="the spec as it is now")
    args = parser.parse_args(argv)
    old, new = load(args.released), load(args.current)
    old_version, new_version = old["info"]["version"], new["info"]["version"]
    changes = breaking_changes(old, new)
    if not changes:
        print(f"{args.current} keeps every client of {old_version} ({args.released}) working")
        return 0
    listing = "\n".join(f"  - {change}" for change in changes)
    if major(new_version) > major(old_version):
        print(f"{new_version} is a new major version; breaking changes since {old_version}:")
        print(listing)
        return 0
    print(
        f"{args.current} breaks clients of {old_version} ({args.released}):\n{listing}\n"
        f"Keep them compatible, or raise the major part of info.version ({new_version}).",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
