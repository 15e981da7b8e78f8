"""Cached reads for the pages. Every loader returns a result object instead of raising, so a
dependency that is down shows as "degraded" with its error, never as a traceback.

Loaders call services only (no engine, no table, no file path, no recomputation) and pass the
signed-in user as ``viewer``: the services check what the viewer may see. The champion comes
from governance.registry's one rule; the dependency checks and the audit verification from
governance.system.

Cache lifetimes are short (seconds): jobs write new results all the time, and a page must not
show yesterday's champion for long after a rollback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from core.context import AppContext
from core.errors import NotFound
from core.redact import redact_text, redact_url
from governance.system import ServiceCheck


@dataclass(frozen=True)
class Versions:
    """A registered model's versions as MLflow reports them."""

    versions: list[Any] = field(default_factory=list)  # governance.registry.ModelVersionInfo
    champion: Any | None = None
    registered: bool = True  # False: the registered model does not exist (yet)
    error: str | None = None  # MLflow did not answer


@dataclass(frozen=True)
class Loaded:
    value: Any = None
    error: str | None = None
    available: bool = True  # False: the producing module is not installed in this build


def mask_url(url: str) -> str:
    """The URL with any password or token masked, e.g. postgresql://vigil:***@db/vigil (core.redact)."""
    return redact_url(url)


def describe(exc: BaseException) -> str:
    """One line naming the error, for a degraded notice."""
    return redact_text(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__


def guarded(read: Callable[[], Any]) -> Loaded:
    """Run a read; a failure becomes a degraded result instead of a traceback."""
    try:
        return Loaded(read())
    except Exception as exc:  # noqa: BLE001  (degraded, not a traceback)
        return Loaded(error=describe(exc))


@st.cache_resource(show_spinner=False)
def _registry(tracking_uri: str):  # type: ignore[no-untyped-def]
    from governance.registry import ModelRegistry

    return ModelRegistry(tracking_uri)


@st.cache_data(ttl=30, show_spinner="Asking MLflow...")
def _model_versions(_ctx: AppContext, tracking_uri: str, model: str, viewer: str, stamp: Any = None) -> Versions:
    from governance.registry import champion_of
    from governance.registry import model_versions as read_versions

    try:
        versions = read_versions(_ctx, model, viewer=viewer, registry=_registry(tracking_uri))
    except NotFound:
        return Versions(registered=False)
    except Exception as exc:  # refused, ServiceUnavailable or anything MLflow raised
        return Versions(error=describe(exc))
    return Versions(versions=versions, champion=champion_of(versions), registered=True)


def model_versions(ctx: AppContext, model: str, viewer: str, *, stamp: Any = None) -> Versions:
    """All versions of the configured ``model`` with metrics, newest first, and the champion,
    as ``viewer`` may see them (the registry's read service checks ``model.view``).

    ``stamp``: a value that changes whenever the versions or aliases may have (e.g. the newest
    alias move's id): a new stamp asks MLflow again instead of serving the cached answer, so a
    page shows a promotion or rollback at once rather than up to 30 s later."""
    return _model_versions(ctx, ctx.settings.mlflow_tracking_uri, model, viewer, stamp)


def job_runs(ctx: AppContext, viewer: str, *, model: str | None = None) -> Loaded:
    """The newest run of each job that ``viewer`` may see (uncached: one small query)."""
    from governance.job_runs import latest_run_per_job

    return guarded(lambda: latest_run_per_job(ctx, viewer=viewer, model=model))


def health(ctx: AppContext, model: str, viewer: str) -> Loaded:
    """The latest health snapshot of ``model`` (None when the health job has not run yet)."""
    from monitoring.health.service import latest_health

    return guarded(lambda: latest_health(ctx, model, viewer=viewer))


def health_history(ctx: AppContext, model: str, viewer: str, *, days: int = 10) -> Loaded:
    """Health snapshots of the ``days`` before the newest one, oldest first."""
    from monitoring.health.service import recent_health

    return guarded(lambda: recent_health(ctx, model, days=days, viewer=viewer))


def check_database(ctx: AppContext, viewer: str) -> ServiceCheck:
    from governance import system

    return system.check_database(ctx, viewer=viewer)


@st.cache_data(ttl=15, show_spinner=False)
def _check_mlflow(_ctx: AppContext, tracking_uri: str, viewer: str) -> ServiceCheck:
    from governance import system

    return system.check_mlflow(_ctx, viewer=viewer)


def check_mlflow(ctx: AppContext, viewer: str) -> ServiceCheck:
    return _check_mlflow(ctx, ctx.settings.mlflow_tracking_uri, viewer)


@st.cache_data(ttl=15, show_spinner=False)
def _check_prometheus(_ctx: AppContext, url: str | None, viewer: str) -> ServiceCheck:
    from governance import system

    return system.check_prometheus(_ctx, viewer=viewer)


def check_prometheus(ctx: AppContext, viewer: str) -> ServiceCheck:
    return _check_prometheus(ctx, ctx.settings.prometheus_url, viewer)


@st.cache_data(ttl=60, show_spinner="Verifying the audit chain...")
def _audit_verification(_ctx: AppContext, database_url: str, viewer: str) -> Loaded:
    from governance.system import verify_audit

    return guarded(lambda: verify_audit(_ctx, viewer=viewer))


def audit_verification(ctx: AppContext, viewer: str) -> Loaded:
    """governance.audit chain verification (the same check as ``python -m jobs.audit verify``);
    the service refuses it to anyone without ``audit.read``."""
    return _audit_verification(ctx, ctx.settings.database_url, viewer)
