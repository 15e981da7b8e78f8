"""core.storage on local disk: where the configured stores are, and the write-then-publish rule
(a reader sees the old file or the whole new one; a failed write leaves nothing behind)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.artifacts import ArtifactStore, atomic_write_bytes
from core.errors import ConfigError
from core.settings import Settings
from core.storage import (
    Location,
    artifact_location,
    logstore_location,
    quarantine_location,
    split,
)


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"VIGIL_DATA_DIR": str(tmp_path / "data"), **env})


def test_default_stores_are_todays_directories(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert (s.artifact_url, s.logstore_url) == (None, None)
    assert artifact_location(s) == Location(str(s.artifacts_dir))
    assert logstore_location(s) == Location(str(s.logstore_dir))
    assert quarantine_location(s) == Location(str(s.quarantine_dir))
    assert artifact_location(s).local


def test_two_variables_move_the_stores_and_the_quarantine_follows_the_log_store(tmp_path: Path) -> None:
    s = _settings(tmp_path, VIGIL_ARTIFACT_URL="memory:///vigil/artifacts",
                  VIGIL_LOGSTORE_URL="memory:///vigil/logs")
    assert artifact_location(s).url == "memory:///vigil/artifacts"
    assert logstore_location(s).url == "memory:///vigil/logs"
    assert quarantine_location(s).url == "memory:///vigil/logs/_quarantine"
    assert not logstore_location(s).local
    # a file:// URL is a local directory like a plain path
    local = _settings(tmp_path, VIGIL_LOGSTORE_URL=(tmp_path / "elsewhere").as_uri())
    assert logstore_location(local) == Location(str(tmp_path / "elsewhere"))


def test_an_unknown_scheme_names_the_location(tmp_path: Path) -> None:
    s = _settings(tmp_path, VIGIL_ARTIFACT_URL="nosuchfs://bucket/x")
    with pytest.raises(ConfigError, match="nosuchfs://bucket/x"):
        artifact_location(s)


def test_a_failed_local_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.json"
    atomic_write_bytes(target, b"old")
    loc, path = split(target)

    def half_then_fail(handle) -> None:  # type: ignore[no-untyped-def]
        handle.write(b"half of the new")
        raise RuntimeError("writer killed")

    with pytest.raises(RuntimeError):
        loc.write_with(path, half_then_fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]
    loc.write_with(path, lambda handle: handle.write(b"new"))
    assert target.read_bytes() == b"new"


def test_move_publishes_once_and_reports_a_missing_source(tmp_path: Path) -> None:
    loc = Location.of(tmp_path)
    loc.write_bytes(loc.join("d", ".part.pending"), b"rows")
    assert loc.move(loc.join("d", ".part.pending"), loc.join("d", "part")) is True
    assert loc.move(loc.join("d", ".part.pending"), loc.join("d", "part")) is False
    assert loc.listdir(loc.join("d")) == ["part"] and loc.read_bytes(loc.join("d", "part")) == b"rows"
    loc.clear()
    assert loc.find() == [] and Path(loc.root).is_dir()


def test_artifacts_on_an_fsspec_url_round_trip() -> None:
    store = ArtifactStore("memory:///vigil-test-artifacts")
    stored = store.put("reports", "r.html", b"<p>1</p>")
    assert stored.path == f"memory:///vigil-test-artifacts/reports/{stored.sha256[:2]}/{stored.sha256}/r.html"
    assert store.get("reports", stored.sha256, "r.html") == b"<p>1</p>"
    with store.local_file("reports", stored.sha256, "r.html") as local:
        assert local.read_bytes() == b"<p>1</p>"
    store.location.fs.rm(store.location.root, recursive=True)
