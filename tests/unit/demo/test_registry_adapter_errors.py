"""ModelRegistry's errors that need no server: a bad URI or a registry that was never built."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import InvalidInput, ServiceUnavailable
from governance.registry import ModelRegistry, ModelVersionInfo


def test_empty_tracking_uri_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="MLFLOW_TRACKING_URI"):
        ModelRegistry("  ")


def test_missing_sqlite_registry_is_unavailable_and_not_created(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    clients: list[object] = []
    monkeypatch.setattr(mlflow, "MlflowClient", lambda *a, **k: clients.append(a) or pytest.fail("connected"))
    db = tmp_path / "mlflow" / "mlflow.db"
    registry = ModelRegistry(f"sqlite:///{db}")
    with pytest.raises(ServiceUnavailable, match="python -m jobs.demo"):
        registry.ping()
    with pytest.raises(ServiceUnavailable, match="does not exist"):
        registry.list_versions("breast-cancer-mlp")
    assert clients == []  # refused before any MLflow client (and its retries) was made
    assert not db.exists() and not db.parent.exists()


def test_version_info_is_frozen_and_knows_the_champion() -> None:
    info = ModelVersionInfo("3", "run", datetime(2026, 11, 1, tzinfo=UTC), aliases=("champion",))
    assert info.is_champion
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.version = "4"  # type: ignore[misc]
