"""One champion rule (governance.registry): the version the ``champion`` alias points at, for the
registry's own lookup and for callers that already hold the version list (the Overview)."""

from __future__ import annotations

from datetime import UTC, datetime

from governance.registry import CHAMPION, ModelVersionInfo, champion_of

T = datetime(2026, 11, 30, tzinfo=UTC)


def _v(version: str, *aliases: str) -> ModelVersionInfo:
    return ModelVersionInfo(version=version, run_id=None, created_at=T, aliases=tuple(aliases))


def test_the_champion_is_the_aliased_version_not_the_newest() -> None:
    versions = [_v("3", "challenger"), _v("2", CHAMPION, "stable"), _v("1")]
    assert champion_of(versions) is versions[1]
    assert champion_of([_v("3"), _v("2", "champion-candidate")]) is None  # no alias, no guess
    assert champion_of([]) is None

