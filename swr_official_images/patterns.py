"""JSON Schema validation with the semantics OpenAPI gives `pattern` (ECMA-262)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
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


def _pattern(
    validator: Validator, pattern: str, instance: object, schema: Mapping[str, object]
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 4 (OpenAPI 3.0's dialect) with ECMA-262 `pattern` semantics.
# The stubs leave extend() unannotated; what it returns is a Draft 4 validator class.
SpecValidator: type[Draft4Validator] = extend(  # type: ignore[no-untyped-call]
    Draft4Validator, {"pattern": _pattern}
)
