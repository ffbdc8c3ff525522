"""The request ids the service makes itself: random UUIDs in their canonical form."""

from __future__ import annotations

import uuid

from swr_official_images.request_context import fresh_request_id


def test_a_fresh_request_id_is_a_canonical_random_uuid():
    ids = [fresh_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for request_id in ids:
        parsed = uuid.UUID(request_id)
        assert str(parsed) == request_id  # lower case, dashed, as str(uuid.uuid4()) writes it
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    # Every random bit is used: the variant's digit takes each of its four values.
    assert {request_id[19] for request_id in ids} == set("89ab")
