"""JSON Schema validation with the semantics OpenAPI gives `pattern` (ECMA-262)."""

from __future__ import annotations

import re
from functools import cache

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend


@cache
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """Compile a spec `pattern` with ECMA-262 semantics, as OpenAPI defines it.

    In ECMA-262 (no multiline flag) `$` matches only at the very end of the input; in Python it
    also matches before a final newline, so `^[a-z]+$` would accept "nginx\n". Every `$` that
    is an anchor (not escaped, not inside a class) becomes Python's `\\Z`.
    """
    out: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            out.append(char)
            in_class = char != "]"
        elif char == "[":
            out.append(char)
            in_class = True
        elif char == "$":
            out.append(r"\Z")
        else:
            out.append(char)
    return re.compile("".join(out))


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 4 (OpenAPI 3.0's dialect) with ECMA-262 `pattern` semantics.
SpecValidator = extend(Draft4Validator, {"pattern": _pattern})
