"""Cached reads for the Drift page, through the drift read services (monitoring.drift.service),
which check the viewer's permissions themselves. Each loader returns a ``Loaded`` (value or
error), so a database problem shows as a degraded notice, never as a traceback. Results are
stored by the jobs; nothing here computes statistics or knows where they are stored.

The context is passed as ``_ctx`` (not hashed); the database URL stands for it in the cache key.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.context import AppContext
from ui.loaders import Loaded, guarded

# Session-state / widget keys of the Drift page
DRIFT_MODEL = "drift.model"
DRIFT_FEATURE = "drift.feature"
DRIFT_HEATMAP_VALUE = "drift.heatmap_value"
TTL = 20


def can_view_pii(ctx: AppContext, username: str, model: str) -> bool:
    """Whether the user may see raw values of the model's PII-tagged features (uncached)."""
    from monitoring.drift.service import can_view_pii as allowed

    return allowed(ctx, viewer=username, model=model)


@st.cache_data(ttl=TTL, show_spinner=False)
def _latest_run(_ctx: AppContext, database_url: str, model: str, viewer: str) -> Any:
    from monitoring.drift.service import latest_run

    return latest_run(_ctx, model, viewer=viewer)


def latest_run(ctx: AppContext, model: str, viewer: str) -> Loaded:
    return guarded(lambda: _latest_run(ctx, ctx.settings.database_url, model, viewer))


@st.cache_data(ttl=TTL, show_spinner=False)
def _series(_ctx: AppContext, database_url: str, model: str, window: str, viewer: str) -> pd.DataFrame:
    from monitoring.drift.service import run_series

    return run_series(_ctx, model, window, viewer=viewer)


def series(ctx: AppContext, model: str, window: str, viewer: str) -> Loaded:
    """One row per run of one window length, oldest first (for the time series)."""
    return guarded(lambda: _series(ctx, ctx.settings.database_url, model, window, viewer))


@st.cache_data(ttl=TTL, show_spinner=False)
def _history(_ctx: AppContext, database_url: str, model: str, window: str, days: int, viewer: str) -> pd.DataFrame:
    from monitoring.drift.service import feature_history

    return feature_history(_ctx, model, days=days, window=window, viewer=viewer)


def history(ctx: AppContext, model: str, window: str, viewer: str, days: int = 30) -> Loaded:
    return guarded(lambda: _history(ctx, ctx.settings.database_url, model, window, days, viewer))


@st.cache_data(ttl=300, show_spinner=False)
def _profile(_ctx: AppContext, database_url: str, profile_id: int) -> Any:
    from monitoring.drift.service import get_profile

    return get_profile(_ctx, profile_id)


def profile(ctx: AppContext, profile_id: int | None) -> Loaded:
    if profile_id is None:
        return Loaded(None)
    return guarded(lambda: _profile(ctx, ctx.settings.database_url, profile_id))


@st.cache_data(ttl=300, show_spinner=False, max_entries=8)
def _report(_ctx: AppContext, _run: Any, database_url: str, run_id: int, sha256: str, viewer: str) -> bytes | None:
    from monitoring.drift.service import report_html

    return report_html(_ctx, _run, viewer=viewer)


def report(ctx: AppContext, run: Any, viewer: str) -> Loaded:
    """The Evidently HTML of a run (bytes), or None when the run has none."""
    if not getattr(run, "report_sha256", None):
        return Loaded(None)
    return guarded(lambda: _report(ctx, run, ctx.settings.database_url, run.id, run.report_sha256, viewer))


@st.cache_data(ttl=TTL, show_spinner=False)
def _quarantine(_ctx: AppContext, database_url: str, model: str, viewer: str) -> tuple[Any, pd.DataFrame]:
    from monitoring.drift.service import quarantine as read

    return read(_ctx, model, viewer=viewer)


def quarantine(ctx: AppContext, model: str, viewer: str) -> Loaded:
    """(quarantine summary, sample rows); the service masks PII-tagged values unless the viewer
    may see them."""
    return guarded(lambda: _quarantine(ctx, ctx.settings.database_url, model, viewer))


def quality(run: Any) -> pd.DataFrame:
    """Missing and out-of-reference-range shares per feature of a run (the service's table)."""
    from monitoring.drift.service import quality_table

    return quality_table(run)


def feature_table(run: Any, pii_features: list[str]) -> pd.DataFrame:
    """The run's long-form rows, one per (feature, method), most severe feature first, as the
    table and CSV show them (the feature's decision beside each of its rows)."""
    rows = []
    for f in run.features:
        for r in f.results:
            rows.append(
                {
                    "feature": f.feature,
                    "kind": f.kind,
                    "PII": f.feature in pii_features,
                    "feature_drifted": f.drifted,
                    "feature_severity": f.severity,
                    "method": r.method,
                    "statistic": r.statistic,
                    "p_value": r.p_value,
                    "p_value_adjusted": r.p_value_adjusted,
                    "threshold": r.threshold,
                    "threshold_on": r.threshold_on,
                    "drifted": r.drifted,
                    "severity": r.severity,
                    "error_bound": r.error_bound,
                    "missing_share_reference": f.missing_share_reference,
                    "missing_share_current": f.missing_share_current,
                }
            )
    return pd.DataFrame(rows)
