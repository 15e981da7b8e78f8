"""Shared fixtures.

Server-backed fixtures follow the house rule: a missing server skips the test only when the
``CI`` environment variable is unset; under ``CI=true`` it fails the run.

- ``VIGIL_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) is the
  PostgreSQL server the database tests use; each test gets a fresh schema, dropped afterwards.

Markers are applied here, by rule, so a new test cannot forget them (pyproject.toml declares
them; ``python3 manage.py test -m "not integration and not e2e"`` is the fast loop):

- ``e2e``: everything under tests/e2e (a real browser and dashboard server);
- ``integration``: everything under tests/integration, and any other test that talks to a real
  server: the PostgreSQL variant of ``db_url``, ``pg_url``, the MLflow and Prometheus servers;
- ``slow`` is set in the test files themselves (statistical calibration, scale, the demo build).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import core  # noqa: F401  (switches telemetry off before anything imports mlflow/evidently)
from core.config import ModelsConfig, load_models_config
from core.context import AppContext
from core.db import make_engine, migrate
from core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("VIGIL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))


SERVER_FIXTURES = frozenset({"pg_url", "mlflow_server", "prometheus_factory", "preset_prometheus"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    e2e, integration = REPO_ROOT / "tests" / "e2e", REPO_ROOT / "tests" / "integration"
    for item in items:
        path = Path(str(item.path))
        if path.is_relative_to(e2e):
            item.add_marker(pytest.mark.e2e)
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (path.is_relative_to(integration) or SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
                or params.get("db_url") == "postgresql"):
            item.add_marker(pytest.mark.integration)


def server_missing(what: str) -> None:
    """Skip (developer machine) or fail (CI=true) because a required server is missing."""
    if IN_CI:
        pytest.fail(f"{what} is not available, and CI=true requires it", pytrace=False)
    pytest.skip(f"{what} is not available (set CI=true to make this a failure)")


def metric_values(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples of a Prometheus exposition, parsed by prometheus_client's own parser:
    ``{(name, frozenset(labels.items())): value}`` (label order and float spelling do not matter)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in ``text``, or None when it is absent."""
    return metric_values(text).get((name, frozenset(labels.items())))


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema on the real server; dropped afterwards."""
    from sqlalchemy import text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # server down or unreachable
        admin.dispose()
        server_missing(f"PostgreSQL at {PG_URL} ({type(exc).__name__}: {exc})")
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated-ready database URL on each backend: SQLite file and real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigil.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    """A migrated engine on each backend."""
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def models_config() -> ModelsConfig:
    """The demo's models configuration as shipped in the repository."""
    return load_models_config(REPO_ROOT / "config" / "models.yaml")


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    env = {
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_CONFIG": str(REPO_ROOT / "config" / "models.yaml"),
        "DATABASE_URL": db_url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'data' / 'mlflow' / 'mlflow.db'}",
    }
    return Settings.from_env(env)


@pytest.fixture
def ctx(settings: Settings, models_config: ModelsConfig) -> Iterator[AppContext]:
    """A full application context on each backend, migrated, with an empty data directory."""
    context = AppContext.create(settings, models=models_config)
    yield context
    context.engine.dispose()


@pytest.fixture
def sqlite_ctx(tmp_path: Path, models_config: ModelsConfig) -> Iterator[AppContext]:
    """An application context on SQLite only (for tests that are not about the backend)."""
    env = {
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_CONFIG": str(REPO_ROOT / "config" / "models.yaml"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'data' / 'mlflow' / 'mlflow.db'}",
    }
    context = AppContext.create(Settings.from_env(env), models=models_config)
    yield context
    context.engine.dispose()
