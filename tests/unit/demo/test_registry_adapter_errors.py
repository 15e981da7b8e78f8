"""ModelRegistry's errors that need no server: a bad URI or a registry that was never built."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import InvalidInput, ServiceUnavailable
from governance.registry import ModelRegistry, ModelVersionInfo


def test_empty_tracking_uri_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="MLFLOW_TRACKING_URI"):
        ModelRegistry("  ")


def test_missing_sqlite_registry_is_unavailable_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "mlflow" / "mlflow.db"
    registry = ModelRegistry(f"sqlite:///{db}")
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="python -m jobs.demo"):
        registry.ping()
    with pytest.raises(ServiceUnavailable, match="does not exist"):
        registry.list_versions("breast-cancer-mlp")
    assert time.monotonic() - started < 2
    assert not db.exists() and not db.parent.exists()


def test_version_info_is_frozen_and_knows_the_champion() -> None:
    info = ModelVersionInfo("3", "run", datetime(2026, 11, 1, tzinfo=UTC), aliases=("champion",))
    assert info.is_champion
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.version = "4"  # type: ignore[misc]
