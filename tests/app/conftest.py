"""Fixtures for the AppTest page tests.

One temporary installation per test session: a data directory, a SQLite database migrated by
the app's own code, the repository's models config, an empty MLflow registry (SQLite), and one
account per role created through the governance APIs (bootstrap, create_user, grant). Tests
sign in by putting a real session token from ``governance.identity.authenticate`` into the
session state; the app validates it against the database on every run, as for a browser.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import core  # noqa: F401  (telemetry off before mlflow is imported)
from core.actor import Actor
from core.context import AppContext
from core.settings import Settings
from ui import state

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = str(REPO_ROOT / "app.py")
PASSWORD = "correct-horse-battery"
ADMIN = "alice"
# username -> (role, scope); "nobody" exists but holds no grant
USERS: dict[str, tuple[str, str] | None] = {
    "vera": ("viewer", "*"),
    "otto": ("operator", "*"),
    "rita": ("reviewer", "*"),
    "aldo": ("auditor", "*"),
    ADMIN: ("admin", "*"),
    "dora": ("viewer", "diabetes"),
    "nobody": None,
}
BY_ROLE = {"viewer": "vera", "operator": "otto", "reviewer": "rita", "auditor": "aldo", "admin": ADMIN}


@dataclass
class Installation:
    env: dict[str, str]
    ctx: AppContext

    def token(self, username: str, password: str = PASSWORD) -> str:
        from governance.identity import authenticate

        return authenticate(self.ctx, username, password).token


def _create_mlflow_registry(uri: str) -> None:
    """An empty but existing MLflow registry (creates the SQLite schema)."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models(max_results=1)


@pytest.fixture(scope="session")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    from governance import access, identity, rbac

    root = tmp_path_factory.mktemp("vigil-app")
    env = {
        "VIGIL_DATA_DIR": str(root / "data"),
        "VIGIL_CONFIG": str(REPO_ROOT / "config" / "models.yaml"),
        "DATABASE_URL": f"sqlite:///{root / 'data' / 'vigil.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'data' / 'mlflow' / 'mlflow.db'}",
        "VIGIL_AUTH_MODE": "local",
        "VIGIL_DEMO": "false",
    }
    ctx = AppContext.create(Settings.from_env(env))
    _create_mlflow_registry(env["MLFLOW_TRACKING_URI"])
    access.bootstrap_admin(ctx, ADMIN, PASSWORD)
    admin = Actor(ADMIN, "cli")
    for username, grant in USERS.items():
        if username == ADMIN:
            continue
        identity.create_user(ctx, admin, username, PASSWORD, display_name=username.title())
        if grant is not None:
            rbac.grant(ctx, admin, username, grant[0], grant[1], reason="test fixture")
    yield Installation(env, ctx)
    ctx.engine.dispose()


@pytest.fixture(autouse=True)
def _fresh_page_caches() -> Iterator[None]:
    """Each test starts with empty ``st.cache_data`` caches.

    The loaders cache for 15-300 s and the cache lives in the process, not in an AppTest, so
    without this a page visited by an earlier test (say, before any SLO snapshot existed) would
    serve that test's data to a later one: a flake that depends on test order and timing.
    """
    import streamlit as st

    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture(autouse=True)
def _navigation_as_on_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run app.py on every AppTest run, as a server does.

    Streamlit keeps a relic of its first multipage design: when the main script's folder has a
    ``pages/`` directory, a run may execute a page file directly instead of the main script.
    A server switches that off for good at the first ``st.navigation`` call (app.py makes one
    on every run), but AppTest resets the switch before each run, so without this shim a test
    that switches to a page would run that page without app.py's sign-in gate and navigation.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def vigil_env(installation: Installation, monkeypatch: pytest.MonkeyPatch) -> Installation:
    """The installation's environment for this test (the app reads it through Settings.from_env)."""
    for key in ("PROMETHEUS_URL", "VIGIL_PROXY_USER_HEADER", "VIGIL_OIDC_PROVIDER"):
        monkeypatch.delenv(key, raising=False)
    for key, value in installation.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO_ROOT)
    return installation


def new_app():  # type: ignore[no-untyped-def]
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=60)


def sign_in_as(at, inst: Installation, username: str):  # type: ignore[no-untyped-def]
    """Sign ``username`` in the honest way: a real session token the app must validate."""
    at.session_state[state.AUTH_TOKEN] = inst.token(username)
    return at


@pytest.fixture
def app(vigil_env: Installation):  # type: ignore[no-untyped-def]
    return new_app()


def texts(at) -> str:  # type: ignore[no-untyped-def]
    """Everything a user can read on the page (titles, markdown, alerts, captions, metrics)."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error",
                 "success", "text", "exception"):
        parts.extend(str(getattr(e, "value", "")) for e in getattr(at, kind))
    for m in at.metric:
        parts.append(f"{m.label}: {m.value}")
    return re.sub(r"\\(.)", r"\1", "\n".join(parts))  # markdown escapes are not shown


def nav_titles(at) -> list[str]:  # type: ignore[no-untyped-def]
    """Titles of the pages the navigation offered in the last run (what the sidebar lists)."""
    return sorted(str(info.get("page_name", "")) for info in at._registered_pages.values())


def open_url_path(at, url_path: str):  # type: ignore[no-untyped-def]
    """Ask for a page by its URL path, as a browser does with http://host/<url_path>, even when
    the navigation does not offer it (a bookmarked or typed address)."""
    from streamlit.util import calc_hash

    at._page_hash = calc_hash(url_path)
    return at
