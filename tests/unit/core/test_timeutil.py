"""The shared time helpers: window lengths as users write them, and UTC moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.errors import InvalidInput
from core.timeutil import aware, parse_window, utc_or_now


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        (" 12h ", timedelta(hours=12)),
        ("1d", timedelta(days=1)),
        ("7 d", timedelta(days=7)),
        ("2w", timedelta(days=14)),
    ],
)
def test_window_lengths(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "-1d", "1y", "1.5h", "d", "1 fortnight", None])
def test_a_bad_window_names_the_expected_form(text: str | None) -> None:
    with pytest.raises(InvalidInput, match=r"expected a positive number and a unit m, h, d or w"):
        parse_window(text)  # type: ignore[arg-type]


def test_moments_are_utc() -> None:
    naive = datetime(2026, 11, 30, 12, 0)
    assert aware(naive) == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    plus_two = datetime(2026, 11, 30, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert utc_or_now(plus_two) == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert utc_or_now(plus_two).tzinfo is UTC
    before = datetime.now(UTC)
    now = utc_or_now(None)
    assert before <= now <= datetime.now(UTC) and now.tzinfo is UTC
