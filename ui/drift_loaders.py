"""Cached reads for the Drift page. Each loader returns a ``Loaded`` (value or error), so a
database problem shows as a degraded notice, never as a traceback. Results are stored by the
jobs; nothing here computes statistics.

The context is passed as ``_ctx`` (not hashed); the database URL stands for it in the cache key.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.context import AppContext
from ui.loaders import Loaded, describe, guarded

# Session-state / widget keys of the Drift page
DRIFT_MODEL = "drift.model"
DRIFT_FEATURE = "drift.feature"
DRIFT_HEATMAP_VALUE = "drift.heatmap_value"
TTL = 20



def can_view_pii(ctx: AppContext, username: str, model: str) -> bool:
    """Whether the user may see raw values of the model's PII-tagged features (uncached)."""
    from governance import rbac

    try:
        return bool(rbac.can(ctx, username, rbac.Action.MODEL_VIEW_PII, model))
    except Exception:  # noqa: BLE001
        return False


@st.cache_data(ttl=TTL, show_spinner=False)
def _latest_run(_ctx: AppContext, database_url: str, model: str, viewer: str) -> Any:
    from monitoring.drift.service import latest_run

    return latest_run(_ctx, model, viewer=viewer)


def latest_run(ctx: AppContext, model: str, viewer: str) -> Loaded:
    return guarded(lambda: _latest_run(ctx, ctx.settings.database_url, model, viewer))


@st.cache_data(ttl=TTL, show_spinner=False)
def _runs(_ctx: AppContext, database_url: str, model: str, window: str, viewer: str) -> Any:
    from monitoring.drift.service import list_runs

    return list_runs(_ctx, model, window=window, limit=2000, viewer=viewer)


def runs(ctx: AppContext, model: str, window: str, viewer: str) -> Loaded:
    """Runs of one window length, oldest first (for the time series)."""
    return guarded(lambda: _runs(ctx, ctx.settings.database_url, model, window, viewer))


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
def _report(_ctx: AppContext, sha256: str, name: str) -> bytes:
    return _ctx.artifacts.get("reports", sha256, name)


def report(ctx: AppContext, run: Any) -> Loaded:
    """The Evidently HTML of a run (bytes), or None when the run has none."""
    if not getattr(run, "report_sha256", None):
        return Loaded(None)
    return guarded(lambda: _report(ctx, run.report_sha256, run.report_name))


@st.cache_data(ttl=TTL, show_spinner=False)
def _quarantine(
    _ctx: AppContext, database_url: str, model: str, reveal_pii: bool, pii: tuple[str, ...]
) -> tuple[Any, pd.DataFrame]:
    from monitoring.logs.quarantine import quarantine_rows, quarantine_summary

    summary = quarantine_summary(_ctx.engine, model)
    rows = quarantine_rows(
        _ctx.settings.quarantine_dir, model, limit=200, pii_features=list(pii), reveal_pii=reveal_pii
    )
    return summary, rows


def quarantine(ctx: AppContext, model: str, *, reveal_pii: bool) -> Loaded:
    """(QuarantineSummary, sample rows) with PII-tagged values masked unless ``reveal_pii``."""
    try:
        pii = tuple(ctx.models.get(model).pii_features)
        return Loaded(_quarantine(ctx, ctx.settings.database_url, model, reveal_pii, pii))
    except Exception as exc:  # noqa: BLE001
        return Loaded(error=describe(exc))


def feature_table(run: Any, pii_features: list[str]) -> pd.DataFrame:
    """The run's feature results, most severe first, as the table and CSV show them."""
    rows = []
    for f in run.features:
        rows.append(
            {
                "feature": f.feature,
                "kind": f.kind,
                "PII": f.feature in pii_features,
                "drifted": f.drifted,
                "severity": f.severity,
                "psi": f.psi,
                "ks_statistic": f.ks_statistic,
                "ks_pvalue": f.ks_pvalue,
                "ks_error_bound": f.ks_error_bound,
                "chi2_statistic": f.chi2_statistic,
                "chi2_pvalue": f.chi2_pvalue,
                "p_value_adjusted": f.p_value_adjusted,
                "missing_share_reference": f.missing_share_reference,
                "missing_share_current": f.missing_share_current,
            }
        )
    return pd.DataFrame(rows)
