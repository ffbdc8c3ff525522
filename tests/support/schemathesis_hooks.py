"""schemathesis hooks: let generated cases reach images that exist, not only 404s.

Names generated from the spec's patterns almost never match a catalog entry, so some positive
cases swap in a real (namespace, name) from the test catalog. Negative cases are left alone: they
must stay invalid for the negative_data_rejection check to mean anything.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import schemathesis
from hypothesis import strategies as st

from swr_official_images.catalog.sample import sample_catalog
from tests.conftest import NESTED_IMAGE


@cache
def existing_images() -> list[dict[str, str]]:
    # The test catalog (tests/conftest.py) is the sample catalog plus nested names.
    images = [{"namespace": r.namespace, "repository": r.name} for r in sample_catalog()]
    images.append(
        {
            "namespace": NESTED_IMAGE["namespace"],
            "repository": NESTED_IMAGE["name"].replace("/", "$"),
        }
    )
    return images


@schemathesis.hook
def flatmap_case(context, case):
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return st.just(case)
    if "{namespace}" not in case.operation.path:  # the probes name no image
        return st.just(case)

    def for_image(image: dict[str, str]):
        # Only the parameters the operation has: the list's path names a namespace alone.
        case.path_parameters = {k: v for k, v in image.items() if k in case.path_parameters}
        return case

    return st.one_of(st.just(case), st.sampled_from(existing_images()).map(for_image))


# name -> how many responses each check actually judged (a check that does not apply to a case
# skips it and is not counted): the contract test asserts that the checks it relies on ran.
CHECKS_RAN: Counter[str] = Counter()


@schemathesis.hook
def after_validate(context, case, response, results):
    CHECKS_RAN.update(result.name for result in results)
