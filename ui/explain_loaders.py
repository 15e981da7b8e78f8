"""Cached reads for the Explainability page. Every loader returns a ``Loaded`` result instead of
raising, so a dependency that is down shows as degraded, never as a traceback. Each one calls
:mod:`monitoring.explain.service` with the viewer, and the service checks the permission.

The page never runs an explainer for the global charts: reports are computed by the ``shap``
job and read here. The one exception is the per-request lookup (one row, against the stored
background of the version's current report).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.actor import Actor
from core.context import AppContext
from core.errors import NotFound, PermissionDenied, VigilError
from ui.loaders import Loaded, describe, guarded


@st.cache_data(ttl=30, show_spinner=False)
def _history(_ctx: AppContext, database_url: str, model: str, viewer: str) -> list[Any]:
    from monitoring.explain import service

    return service.report_history(_ctx, model, viewer=viewer)


def report_history(ctx: AppContext, model: str, viewer: str) -> Loaded:
    """The model's SHAP reports, newest first (the current one per version is marked)."""
    return guarded(lambda: _history(ctx, ctx.settings.database_url, model, viewer))


@st.cache_data(ttl=300, show_spinner=False)
def _chart_data(
    _ctx: AppContext, database_url: str, report_id: int, sha256: str, viewer: str, _view: Any
) -> Any:
    from monitoring.explain import service

    return service.report_chart_data(_ctx, _view, viewer=viewer)


def report_chart_data(ctx: AppContext, view: Any, viewer: str) -> Loaded:
    """The archived report's chart data (importance with intervals, beeswarm points)."""
    return guarded(
        lambda: _chart_data(ctx, ctx.settings.database_url, view.id, view.json_sha256, viewer, view)
    )


def report_html(ctx: AppContext, view: Any, viewer: str) -> Loaded:
    """The archived HTML page, for download (uncached: read on demand)."""
    from monitoring.explain import service

    return guarded(lambda: service.report_html(ctx, view, viewer=viewer))


@st.cache_data(ttl=30, show_spinner=False)
def _attribution(_ctx: AppContext, database_url: str, model: str, viewer: str) -> list[Any]:
    from monitoring.explain import service

    return service.attribution_drift_over_time(_ctx, model, viewer=viewer)


def attribution_over_time(ctx: AppContext, model: str, viewer: str) -> Loaded:
    return guarded(lambda: _attribution(ctx, ctx.settings.database_url, model, viewer))


@st.cache_data(ttl=30, show_spinner=False)
def _that_matters(_ctx: AppContext, database_url: str, model: str, viewer: str) -> Any:
    from monitoring.explain import service

    return service.drift_that_matters(_ctx, model, viewer=viewer)


def drift_that_matters(ctx: AppContext, model: str, viewer: str) -> Loaded:
    """Drifted features ranked by severity x importance (None: no report or no drift check yet)."""
    return guarded(lambda: _that_matters(ctx, ctx.settings.database_url, model, viewer))


def explain_request(ctx: AppContext, actor: Actor, model: str, request_id: str) -> Loaded:
    """One request's waterfall (uncached; the service checks permission and hides PII)."""
    from monitoring.explain import service

    try:
        return Loaded(service.explain_request(ctx, actor, model, request_id))
    except (NotFound, PermissionDenied) as exc:
        return Loaded(error=str(exc), available=False)
    except VigilError as exc:
        return Loaded(error=str(exc))
    except Exception as exc:  # noqa: BLE001  (degraded, not a traceback)
        return Loaded(error=describe(exc))
