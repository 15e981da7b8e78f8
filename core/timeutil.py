"""Time helpers shared by every package: all stored times are UTC.

SQLite hands back naive datetimes even for ``DateTime(timezone=True)`` columns, so every read
of a stored time goes through :func:`aware`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """``value`` as a timezone-aware UTC datetime (naive values are taken to be UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
