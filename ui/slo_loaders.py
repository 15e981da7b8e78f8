"""Cached reads for the SLO page: stored SLO snapshots, burn-rate and metrics series, the last
SLO job run. Each loader returns ``ui.loaders.Loaded`` (value or error) so a database problem
shows as a degraded notice. Nothing here computes SLOs: ``python -m jobs.slo`` stores them, and
monitoring.slo.service and governance.job_runs read them, checking that ``viewer`` may view the
model.

The context is passed as ``_ctx`` (not hashed); the database URL and the viewer stand for it in
the cache key.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.context import AppContext
from ui.loaders import Loaded, describe, guarded

SLO_MODEL = "slo.model"
SLO_RANGE = "slo.range"
RANGES = {"6 hours": 6, "1 day": 24, "3 days": 72, "7 days": 168, "30 days": 720}  # hours
TTL = 20


@st.cache_data(ttl=TTL, show_spinner=False)
def _snapshots(_ctx: AppContext, database_url: str, model: str, viewer: str) -> Any:
    from monitoring.slo.service import latest_snapshots

    return latest_snapshots(_ctx, model, viewer=viewer)


def snapshots(ctx: AppContext, model: str, viewer: str) -> Loaded:
    return guarded(lambda: _snapshots(ctx, ctx.settings.database_url, model, viewer))


@st.cache_data(ttl=TTL, show_spinner=False)
def _series(_ctx: AppContext, database_url: str, model: str, kind: str, viewer: str) -> Any:
    from monitoring.slo.service import get_series

    view = get_series(_ctx, model, kind, viewer=viewer)
    if view is None or not view.points:
        return None
    frame = pd.DataFrame(view.points)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def series(ctx: AppContext, model: str, kind: str, hours: int, viewer: str) -> Loaded:
    """The stored series of ``kind`` (``burn:<slo>`` or ``metrics``), its last ``hours``."""
    try:
        frame = _series(ctx, ctx.settings.database_url, model, kind, viewer)
    except Exception as exc:  # noqa: BLE001
        return Loaded(error=describe(exc))
    if frame is None:
        return Loaded(None)
    end = frame["at"].max()
    return Loaded(frame[frame["at"] > end - pd.Timedelta(hours=hours)].reset_index(drop=True))


@st.cache_data(ttl=TTL, show_spinner=False)
def _last_run(_ctx: AppContext, database_url: str, model: str, viewer: str) -> Any:
    from governance.job_runs import last_run

    return last_run(_ctx, "slo", model, viewer=viewer)


def last_run(ctx: AppContext, model: str, viewer: str) -> Loaded:
    """The newest ``jobs.slo`` run of ``model`` (None before the first)."""
    return guarded(lambda: _last_run(ctx, ctx.settings.database_url, model, viewer))
