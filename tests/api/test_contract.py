"""Property-based contract tests: schemathesis drives the live server with every check on.

The bounded run here fits the test suite; `make fuzz` runs the same checks deeply.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from schemathesis.checks import CHECKS, load_all_checks

from swr_official_images.spec import SPEC_PATH
from tests.support.schemathesis_hooks import CHECKS_RAN  # importing it registers the hooks

pytestmark = pytest.mark.slow

load_all_checks()
# Every check schemathesis has; contract_run asserts that the ones named here really ran.
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


@dataclass
class ContractRun:
    """What one store's contract run reached: (phase, method, path, status) of every
    response."""

    outcomes: Counter[tuple[str, str, str, int]] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def contract_run(request, live_server) -> Iterator[ContractRun]:
    """Judges a store's whole run once its cases are done, so that it holds whatever else is
    selected and in whatever order: the checks the contract relies on judged responses, and
    cases reached existing images on every path, not only 404s (the examples phase found the
    spec's example image, and generated cases found images too)."""
    run = ContractRun()
    checks_before = CHECKS_RAN.copy()
    failures_before = request.session.testsfailed
    yield run
    if request.session.testsfailed > failures_before:
        return  # a failing case says more than a summary of the run would
    assert run.outcomes, "the contract test ran no case"
    missing = REQUIRED_CHECKS - set(CHECKS_RAN - checks_before)
    assert not missing, f"checks that judged no response: {sorted(missing)}"
    # The paths that name images; the probes name none (and have no examples to run).
    readers = {
        (method, path)
        for _, method, path, _ in run.outcomes
        if method in {"GET", "HEAD"} and "{namespace}" in path
    }
    for reader, path in readers:
        if "{" in path:
            # The spec's example values name an existing image: the examples phase must find
            # it. A path without parameters gives that phase nothing to take examples from.
            assert run.outcomes[("examples", reader, path, 200)] > 0, run.outcomes
        generated_hits = sum(
            n
            for (phase, method, where, status), n in run.outcomes.items()
            if phase in {"coverage", "fuzzing"} and (method, where, status) == (reader, path, 200)
        )
        assert generated_hits > 0, (reader, path, run.outcomes)


@schema.parametrize()
def test_the_server_keeps_the_contract(case, live_server, contract_run):
    assert live_server.settings.validate_responses, "the contract runs with response validation on"
    # The real token goes in wherever the case sends the header, or should: a negative case
    # that leaves the header out must reach the server without it.
    headers = dict(case.headers or {})
    explicit = None
    if "X-Auth-Token" in headers or case.meta is None or case.meta.generation.mode.is_positive:
        # Given as the run's own credentials, not as generated data: the other scheme (AK/SK)
        # is then not expected, and schemathesis probes that the token is really required.
        headers.pop("X-Auth-Token", None)
        headers.pop("Authorization", None)
        explicit = {"X-Auth-Token": live_server.tokens.valid}
    case.headers = headers
    response = case.call_and_validate(
        base_url=live_server.base_url, checks=ALL_CHECKS, headers=explicit
    )
    phase = case.meta.phase.name.value if case.meta else "explicit"
    contract_run.outcomes[(phase, case.method.upper(), case.path, response.status_code)] += 1
