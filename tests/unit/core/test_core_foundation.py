"""core: settings from the environment, the models YAML, the artifact store, job-run records,
the database factory. Bad configuration names the key and where it came from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from core.artifacts import ArtifactStore
from core.config import load_models_config
from core.db import make_engine, migrate
from core.errors import ConfigError, InvalidInput, NotFound
from core.runs import latest_run_per_job, latest_runs, record_run
from core.settings import Settings

REPO = Path(__file__).resolve().parents[3]


def test_settings_defaults_put_all_state_under_the_data_dir(tmp_path: Path) -> None:
    s = Settings.from_env({"VIGIL_DATA_DIR": str(tmp_path / "d")})
    assert s.database_url == f"sqlite:///{tmp_path / 'd' / 'vigil.db'}"
    assert s.mlflow_tracking_uri.startswith("sqlite:///") and str(tmp_path / "d") in s.mlflow_tracking_uri
    assert (s.auth_mode, s.demo_mode, s.lockout_threshold, s.job_user) == ("local", False, 5, "scheduler")
    s.ensure_dirs()
    assert s.artifacts_dir.is_dir() and s.logstore_dir.is_dir()


@pytest.mark.parametrize(("key", "value", "message"), [
    ("VIGIL_LOCKOUT_THRESHOLD", "five", "VIGIL_LOCKOUT_THRESHOLD: expected an integer, got 'five'"),
    ("VIGIL_SESSION_TTL_MINUTES", "0", "VIGIL_SESSION_TTL_MINUTES: must be at least 1"),
    ("VIGIL_DEMO", "maybe", "VIGIL_DEMO: expected true or false"),
    ("VIGIL_AUTH_MODE", "ldap", "VIGIL_AUTH_MODE: expected one of local, oidc, proxy"),
])
def test_bad_setting_names_the_variable(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({key: value})
    assert message in str(err.value) and "(environment)" in str(err.value)


def test_the_shipped_models_config_is_valid() -> None:
    config = load_models_config(REPO / "config" / "models.yaml")
    assert config.names == ["breast-cancer", "diabetes"]
    assert config.get("diabetes").features
    with pytest.raises(NotFound, match="model 'nope' is not configured"):
        config.get("nope")


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("models:\n  - name: m\n    registered_model: r\n    logs: l\n    features: [{name: a}]\n"
     "    slos: [{name: s, sli: availability, objective: 1.5}]\n",
     "models[0].slos[0].objective: Input should be less than 1"),
    ("models:\n  - name: m\n    registered_model: r\n    logs: l\n    features: [{name: a}]\n    colour: red\n",
     "models[0].colour: Extra inputs are not permitted"),
    ("models:\n  - name: m\n    registered_model: r\n    logs: l\n    features: [{name: a}, {name: a}]\n",
     "models[0].features: Value error, feature 'a' is listed twice"),
    ("models: [\n", "not valid YAML at line"),
    ("- just\n- a list\n", "(top level): expected a mapping"),
])
def test_bad_models_config_names_file_and_key(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_models_config(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_missing_models_config_says_which_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found \\(set VIGIL_CONFIG"):
        load_models_config(tmp_path / "absent.yaml")


def test_artifacts_are_content_addressed_and_checked(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    a = store.put("reports", "drift.html", b"<html>1</html>")
    assert store.put("reports", "drift.html", b"<html>1</html>") == a
    assert store.get("reports", a.sha256, "drift.html") == b"<html>1</html>"
    assert not [p for p in a.path.parent.iterdir() if p.name.endswith(".tmp")]
    a.path.write_bytes(b"tampered")
    with pytest.raises(InvalidInput, match="corrupted"):
        store.get("reports", a.sha256, "drift.html")
    with pytest.raises(NotFound):
        store.get("reports", "0" * 64, "x")
    with pytest.raises(InvalidInput, match="plain names"):
        store.put("reports", "../escape", b"x")


def test_job_runs_record_success_and_failure(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    migrate(engine)
    with record_run(engine, "drift", model="diabetes", actor="scheduler") as run:
        run.message, run.details = "3 features drifted", {"drifted": 3}
    with pytest.raises(RuntimeError):
        with record_run(engine, "drift", model="diabetes", actor="scheduler"):
            raise RuntimeError("no logs")
    newest, oldest = latest_runs(engine, model="diabetes")
    assert (oldest.status, oldest.message, oldest.details) == ("success", "3 features drifted", {"drifted": 3})
    assert (newest.status, newest.message) == ("failed", "RuntimeError: no logs")
    assert [r.id for r in latest_run_per_job(engine)] == [newest.id]
    engine.dispose()


def test_sqlite_engine_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'v.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    assert os.path.isdir(tmp_path / "sub")
    engine.dispose()


def test_bad_database_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        make_engine("nosuchdialect://x")
