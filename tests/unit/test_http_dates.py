"""http_date: an HTTP-date exactly as the standard library's email.utils writes one."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from swr_official_images.http.conditional import http_date

EDGES = [
    datetime(1, 1, 1),
    datetime(999, 12, 31, 23, 59, 59),
    datetime(2024, 2, 29, 12, 0, 0, 999_999),
    datetime(2026, 12, 6, 5, 1, 46),
    datetime(9999, 12, 31, 23, 59, 59, 999_999),
]


def _seeded_moments(count: int) -> list[datetime]:
    rng = random.Random(20261206)
    span = (datetime(9999, 12, 31) - datetime(1, 1, 1)).total_seconds()
    return [datetime(1, 1, 1) + timedelta(seconds=rng.uniform(0, span)) for _ in range(count)]


def _expected(moment: datetime) -> str:
    return format_datetime(moment.replace(tzinfo=UTC, microsecond=0), usegmt=True)


@pytest.mark.parametrize("moment", EDGES, ids=str)
def test_an_http_date_is_the_standard_librarys(moment):
    assert http_date(moment) == _expected(moment)


def test_http_dates_across_the_calendar_are_the_standard_librarys():
    moments = _seeded_moments(5000)
    assert [http_date(m) for m in moments] == [_expected(m) for m in moments]
