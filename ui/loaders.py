"""Cached reads for the pages. Every loader returns a result object instead of raising, so a
dependency that is down shows as "degraded" with its error, never as a traceback.

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


@dataclass(frozen=True)
class ServiceCheck:
    name: str
    status: str  # ok | degraded | not configured
    detail: str = ""
    target: str = ""


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
def model_versions(tracking_uri: str, registered_model: str) -> Versions:
    """All versions of ``registered_model`` with metrics, newest first, and the champion."""
    try:
        versions = list(_registry(tracking_uri).list_versions(registered_model))
    except NotFound:
        return Versions(registered=False)
    except Exception as exc:  # ServiceUnavailable or anything MLflow raised
        return Versions(error=describe(exc))
    versions.sort(key=lambda v: int(v.version) if str(v.version).isdigit() else 0, reverse=True)
    champion = next((v for v in versions if "champion" in (v.aliases or [])), None)
    return Versions(versions=versions, champion=champion, registered=True)


def job_runs(ctx: AppContext, *, model: str | None = None) -> Loaded:
    """The newest run of each job (uncached: one small query)."""
    from core.runs import latest_run_per_job

    return guarded(lambda: latest_run_per_job(ctx.engine, model=model))


def health(ctx: AppContext, model: str) -> Loaded:
    """The latest health snapshot of ``model`` (None when the health job has not run yet)."""
    from monitoring.health.service import latest_health

    return guarded(lambda: latest_health(ctx, model))


def health_history(ctx: AppContext, model: str, *, days: int = 10) -> Loaded:
    """Health snapshots of the ``days`` before the newest one, oldest first."""
    from datetime import timedelta

    from monitoring.health.service import health_history as history
    from monitoring.health.service import latest_health

    try:
        newest = latest_health(ctx, model)
        if newest is None:
            return Loaded([])
        return Loaded(history(ctx, model, since=newest.at - timedelta(days=days)))
    except Exception as exc:
        return Loaded(error=describe(exc))


def check_database(ctx: AppContext) -> ServiceCheck:
    from core.db import ping

    target = mask_url(ctx.settings.database_url)
    try:
        ping(ctx.engine)
    except Exception as exc:
        return ServiceCheck("Database", "degraded", describe(exc), target)
    return ServiceCheck("Database", "ok", f"{ctx.engine.dialect.name} answers", target)


@st.cache_data(ttl=15, show_spinner=False)
def check_mlflow(tracking_uri: str) -> ServiceCheck:
    try:
        _registry(tracking_uri).ping()
    except Exception as exc:
        return ServiceCheck("MLflow", "degraded", describe(exc), mask_url(tracking_uri))
    return ServiceCheck("MLflow", "ok", "registry answers", mask_url(tracking_uri))


@st.cache_data(ttl=15, show_spinner=False)
def check_prometheus(url: str | None, timeout_s: float = 2.0) -> ServiceCheck:
    if not url:
        return ServiceCheck("Prometheus", "not configured",
                            "PROMETHEUS_URL is unset: SLOs are computed from the inference logs")
    import requests

    ready = url.rstrip("/") + "/-/ready"
    try:
        response = requests.get(ready, timeout=timeout_s)
    except Exception as exc:
        return ServiceCheck("Prometheus", "degraded", describe(exc), mask_url(url))
    if response.status_code != 200:
        return ServiceCheck("Prometheus", "degraded",
                            f"/-/ready answered HTTP {response.status_code}", mask_url(url))
    return ServiceCheck("Prometheus", "ok", "/-/ready answers", mask_url(url))


@st.cache_data(ttl=60, show_spinner="Verifying the audit chain...")
def audit_verification(_ctx: AppContext, database_url: str) -> Loaded:
    """governance.audit chain verification (the same check as ``python -m jobs.audit verify``)."""
    return guarded(lambda: _ctx.audit.verify())
