"""Spec patterns with ECMA-262 semantics: `$` ends the input, not a line."""

from __future__ import annotations

import re

import pytest

from swr_official_images.patterns import SpecValidator, ecma_regex
from swr_official_images.spec import parameter_schema


def test_python_alone_would_accept_a_trailing_newline():
    # Why ecma_regex exists: the difference it removes.
    assert re.compile("^[a-z]+$").search("nginx\n")
    assert not ecma_regex("^[a-z]+$").search("nginx\n")


@pytest.mark.parametrize(
    ("pattern", "matches", "does_not_match"),
    [
        ("^[a-z]+$", ["nginx"], ["nginx\n", "nginx\n\n", "Nginx", ""]),
        # An escaped dollar is a literal character, not an anchor.
        (r"^a\$$", ["a$"], ["a", "a$\n", "a\\"]),
        # Inside a class, a dollar is literal too.
        ("^[$a]+$", ["$a$", "a"], ["a\n", "b"]),
        # An escaped "]" does not end the class: the "$" after it is still inside.
        (r"^[\]$]+$", ["]$", "$"], ["]\n", "a"]),
        # A class that closes: the "$" after it is an anchor again.
        ("^[a]$", ["a"], ["a\n"]),
        # An escaped backslash does not escape what follows.
        (r"^\\$", ["\\"], ["\\\n", "\\$"]),
    ],
)
def test_dollar_anchors_only_at_the_very_end(pattern, matches, does_not_match):
    regex = ecma_regex(pattern)
    for text in matches:
        assert regex.search(text), (pattern, text)
    for text in does_not_match:
        assert not regex.search(text), (pattern, text)


@pytest.mark.parametrize("name", ["namespace", "repository"])
def test_the_spec_patterns_refuse_a_trailing_newline(name):
    schema = parameter_schema(name)
    validator = SpecValidator(schema)

    assert validator.is_valid("nginx")
    assert not validator.is_valid("nginx\n")
    errors = list(validator.iter_errors("nginx\n"))
    assert [error.validator for error in errors] == ["pattern"]
