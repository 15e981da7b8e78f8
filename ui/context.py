"""The dashboard's one AppContext, built once per configuration and shared by all sessions.

The cache key is the environment that shapes the context (data directory, config file,
database and MLflow URLs, ...), so a test that points ``VIGIL_DATA_DIR`` elsewhere gets its
own context instead of a stale one. Errors are not cached: a fixed config is picked up on the
next rerun.
"""

from __future__ import annotations

import os

import streamlit as st

import core  # noqa: F401  (switches MLflow/Evidently telemetry off before they are imported)
from core.context import AppContext
from core.settings import ENV_VARIABLES, Settings

def _env_snapshot() -> tuple[tuple[str, str], ...]:
    """Every variable Settings.from_env reads (core.settings.ENV_VARIABLES), plus the cwd."""
    picked = sorted((k, os.environ[k]) for k in ENV_VARIABLES if k in os.environ)
    return (*picked, ("cwd", os.getcwd()))


@st.cache_resource(show_spinner="Opening the database...")
def _build(env: tuple[tuple[str, str], ...]) -> AppContext:
    settings = Settings.from_env({k: v for k, v in env if k != "cwd"})
    return AppContext.create(settings)


def get_context() -> AppContext:
    """The shared context; raises ConfigError / ServiceUnavailable with a message for the user."""
    return _build(_env_snapshot())
