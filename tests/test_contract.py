"""Property-based contract tests: schemathesis drives the live server with every check on.

The bounded run here fits the test suite; `make fuzz` runs the same checks deeply.
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from schemathesis.checks import CHECKS, load_all_checks

import tests.schemathesis_hooks  # noqa: F401 - registers the hooks
from server.spec import SPEC_PATH

load_all_checks()
# Every check schemathesis has; the names the contract relies on are asserted below.
ALL_CHECKS = CHECKS.get_all()
REQUIRED_CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
    "missing_required_header",
}


# Loaded from the spec file itself, the one source of truth (the server serves the same document).
schema = schemathesis.openapi.from_path(SPEC_PATH)


def test_every_required_check_is_enabled():
    missing = REQUIRED_CHECKS - set(CHECKS.get_all_names())
    assert not missing, missing


# (phase, method, status) of every response, to show what the generated cases reached.
OUTCOMES: Counter[tuple[str, str, int]] = Counter()


@schema.parametrize()
def test_the_server_keeps_the_contract(case, live_server):
    assert live_server.settings.validate_responses, "the contract runs with response validation on"
    # The real token goes in wherever the case sends the header, or should: a negative case
    # that leaves the header out must reach the server without it.
    headers = dict(case.headers or {})
    if "X-Auth-Token" in headers or case.meta is None or case.meta.generation.mode.is_positive:
        headers["X-Auth-Token"] = live_server.tokens.valid
    case.headers = headers
    response = case.call_and_validate(base_url=live_server.base_url, checks=ALL_CHECKS)
    phase = case.meta.phase.name.value if case.meta else "explicit"
    OUTCOMES[(phase, case.method.upper(), response.status_code)] += 1


def test_generated_cases_reached_existing_images():
    """Runs after the contract test above (pytest keeps file order): the examples phase found
    the spec's example image, and generated cases found images too, not only 404s."""
    assert OUTCOMES, "the contract test ran no case"
    assert OUTCOMES[("examples", "GET", 200)] > 0, OUTCOMES
    generated_hits = sum(
        n
        for (phase, method, status), n in OUTCOMES.items()
        if phase in {"coverage", "fuzzing"} and method == "GET" and status == 200
    )
    assert generated_hits > 0, OUTCOMES
