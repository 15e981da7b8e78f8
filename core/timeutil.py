"""Time helpers shared by every package: all stored times are UTC, and a window is written as a
length such as ``15m``, ``12h``, ``1d`` or ``1w``.

SQLite hands back naive datetimes even for ``DateTime(timezone=True)`` columns, so every read
of a stored time goes through :func:`aware`. A caller's "as of" moment (``at=None`` meaning now)
goes through :func:`utc_or_now`, and a window length given by a user through
:func:`parse_window`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from core.errors import InvalidInput

_WINDOW = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """``value`` as a timezone-aware UTC datetime (naive values are taken to be UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_now(moment: datetime | None) -> datetime:
    """``moment`` as an aware UTC datetime (naive taken as UTC), or now when it is None."""
    return aware(moment) or utcnow()


def parse_window(window: str) -> timedelta:
    """A window length ``<positive number><unit>`` with unit m, h, d or w (``15m``, ``12h``,
    ``1d``, ``1w``) as a timedelta; anything else raises InvalidInput naming the expected form."""
    match = _WINDOW.match(window or "")
    if not match or int(match.group(1)) <= 0:
        raise InvalidInput(
            f"window {window!r}: expected a positive number and a unit m, h, d or w (e.g. 1h, 12h, 1d)"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
