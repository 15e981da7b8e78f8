"""Reads of stored drift results, each checking that the viewer may see the model (``model.view``;
PII values only with ``model.view_pii``): latest and listed runs, one run's features, the
feature history, the Evidently report, the run series the page charts (with the layout of a
run's prediction and performance blocks known here, not in the UI) and the model's quarantine.
Views and DataFrames only: callers never see a session, a table or a path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import desc, select

from core.db import session_scope
from monitoring.drift.results import FeatureSummary
from monitoring.drift.tables import DriftFeatureResult, DriftMethodResult, DriftRun
from monitoring.drift.views import DriftRunView, aware, feature_sort_key, feature_view, parse_window, run_view


def _check(ctx: Any, viewer: str | None, model: str) -> None:
    from governance.rbac import require_view

    require_view(ctx, viewer, model)


def _rows_of(session: Any, run_id: int) -> tuple[list[DriftFeatureResult], list[DriftMethodResult]]:
    feats = list(session.scalars(select(DriftFeatureResult).where(DriftFeatureResult.run_id == run_id)))
    rows = list(session.scalars(select(DriftMethodResult).where(DriftMethodResult.run_id == run_id)
                                .order_by(DriftMethodResult.id)))
    return feats, rows


def latest_run(ctx: Any, model: str, *, window: str | None = None, viewer: str | None = None) -> DriftRunView | None:
    """The run with the newest window end of ``model`` (of ``window`` length when given).

    With ``viewer``, the read is refused unless that user may view the model (as for every read below)."""
    _check(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        stmt = select(DriftRun).where(DriftRun.model == model)
        if window:
            stmt = stmt.where(DriftRun.window == window)
        row = session.scalars(stmt.order_by(desc(DriftRun.window_end), desc(DriftRun.id)).limit(1)).first()
        return run_view(row, *_rows_of(session, row.id)) if row else None


def get_run(ctx: Any, run_id: int, *, viewer: str | None = None) -> DriftRunView | None:
    with session_scope(ctx.engine) as session:
        row = session.get(DriftRun, run_id)
        if row is None:
            return None
        _check(ctx, viewer, row.model)
        return run_view(row, *_rows_of(session, row.id))


def list_runs(
    ctx: Any, model: str, *, window: str | None = None, since: datetime | None = None, limit: int = 1000,
    viewer: str | None = None,
) -> list[DriftRunView]:
    """Runs of ``model``, oldest window first, without their feature rows."""
    _check(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        stmt = select(DriftRun).where(DriftRun.model == model)
        if window:
            stmt = stmt.where(DriftRun.window == window)
        if since is not None:
            stmt = stmt.where(DriftRun.window_end >= aware(since))
        rows = list(session.scalars(stmt.order_by(desc(DriftRun.window_end)).limit(limit)))
        return [run_view(r) for r in reversed(rows)]


def feature_results(ctx: Any, run_id: int, *, viewer: str | None = None) -> list[FeatureSummary]:
    """The features of one run with their method rows, most severe first."""
    with session_scope(ctx.engine) as session:
        row = session.get(DriftRun, run_id)
        if row is None:
            return []
        _check(ctx, viewer, row.model)
        feats, rows = _rows_of(session, run_id)
        return sorted((feature_view(f, rows) for f in feats), key=feature_sort_key)


HISTORY_COLUMNS = ["window_end", "feature", "method", "statistic", "p_value_adjusted", "drifted", "severity",
                   "feature_drifted", "feature_severity"]


def feature_history(
    ctx: Any, model: str, days: int = 30, *, window: str | None = None, viewer: str | None = None
) -> pd.DataFrame:
    """(window end, feature, method) results over the ``days`` before the newest run, long form.

    Columns: window_end, feature, method, statistic, p_value_adjusted, drifted, severity (the
    method row's), feature_drifted, feature_severity (the feature's decision). Only runs of one window length are included (``window``, default that of the
    newest run), and of the runs whose window ends fall in the same window-length bucket only
    the newest.
    """
    newest = latest_run(ctx, model, window=window, viewer=viewer)
    if newest is None:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    window = window or newest.window
    since = newest.window_end - timedelta(days=days)
    with session_scope(ctx.engine) as session:
        stmt = (
            select(DriftRun.window_end, DriftMethodResult.feature, DriftMethodResult.method,
                   DriftMethodResult.statistic, DriftMethodResult.p_value_adjusted, DriftMethodResult.drifted,
                   DriftMethodResult.severity, DriftFeatureResult.drifted, DriftFeatureResult.severity)
            .join(DriftMethodResult, DriftMethodResult.run_id == DriftRun.id)
            .join(DriftFeatureResult, (DriftFeatureResult.run_id == DriftRun.id)
                  & (DriftFeatureResult.feature == DriftMethodResult.feature))
            .where(DriftRun.model == model, DriftRun.window == window, DriftRun.window_end > since)
            .order_by(DriftRun.window_end, DriftMethodResult.id)
        )
        rows = [tuple(r) for r in session.execute(stmt)]
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    if not frame.empty:
        frame["window_end"] = pd.to_datetime(frame["window_end"], utc=True)
        frame["drifted"] = frame["drifted"].astype(bool)
        frame["feature_drifted"] = frame["feature_drifted"].astype(bool)
        # Cron runs every few minutes over a sliding window: keep the newest run per window length.
        bucket = frame["window_end"].dt.floor(pd.Timedelta(parse_window(window)))
        newest_end = frame.groupby(bucket)["window_end"].transform("max")
        frame = frame[frame["window_end"] == newest_end].reset_index(drop=True)
    return frame


def report_html(ctx: Any, run: DriftRunView, *, viewer: str | None = None) -> bytes | None:
    """The stored Evidently report of ``run`` (None when it has none)."""
    _check(ctx, viewer, run.model)
    if not run.report_sha256 or not run.report_name:
        return None
    return ctx.artifacts.get("reports", run.report_sha256, run.report_name)


def series_frame(runs: Sequence[DriftRunView]) -> pd.DataFrame:
    """One row per run: window end, share drifted, severity, prediction figures, performance.
    The one place that knows the layout of a run's prediction and performance blocks."""
    rows = []
    for r in runs:
        row: dict[str, Any] = {
            "window_end": r.window_end,
            "rows": r.rows,
            "status": r.status,
            "drifted_features": r.drifted_features,
            "share_drifted": r.share_drifted,
            "max_severity": r.max_severity,
            "version": r.version,
        }
        pred = r.prediction or {}
        for key in ("entropy", "score_mean", "score_entropy", "entropy_change", "mean", "std"):
            if key in pred:
                row[f"prediction_{key}"] = pred[key]
        for key in ("score_drift", "class_drift", "prediction_drift"):
            if isinstance(pred.get(key), dict):
                row[f"{key}_psi"] = pred[key].get("psi")
        for cls, share in (pred.get("class_shares") or {}).items():
            row[f"share_of_class_{cls}"] = share
        for key, value in (r.performance or {}).items():
            if key != "labelled":
                row[key] = value
        rows.append(row)
    return pd.DataFrame(rows)


def quality_table(run: DriftRunView) -> pd.DataFrame:
    """Missing and out-of-reference-range shares per feature in the run's window (the layout of
    a run's quality block is known here)."""
    q = run.quality or {}
    missing, out = q.get("missing_share", {}), q.get("out_of_range_share", {})
    ref_missing = {f.feature: f.missing_share_reference for f in run.features}
    names = list(dict.fromkeys(list(missing) + list(out)))
    return pd.DataFrame(
        [
            {
                "feature": n,
                "missing_share_current": missing.get(n),
                "missing_share_reference": ref_missing.get(n),
                "out_of_reference_range_share": out.get(n),
            }
            for n in names
        ]
    )


def run_series(ctx: Any, model: str, window: str, *, viewer: str | None = None, limit: int = 2000) -> pd.DataFrame:
    """:func:`series_frame` of the runs of one window length, oldest first."""
    return series_frame(list_runs(ctx, model, window=window, limit=limit, viewer=viewer))


def can_view_pii(ctx: Any, viewer: str, model: str) -> bool:
    """Whether ``viewer`` may see raw values of the model's PII-tagged features (the logs
    domain's rule); an unknown user or a store that is down means no."""
    from monitoring.logs.service import may_view_pii

    try:
        return bool(may_view_pii(ctx, viewer, model))
    except Exception:  # noqa: BLE001 - unknown user or store down: no PII
        return False


def quarantine(ctx: Any, model: str, *, viewer: str | None = None, limit: int = 200) -> tuple[Any, pd.DataFrame]:
    """(quarantine summary, sample rows) of ``model`` from the logs domain's read service; PII-tagged
    values are revealed exactly when the viewer may see PII (decided here, not by the caller)."""
    from monitoring.logs.service import quarantine as read_quarantine

    reveal = viewer is not None and can_view_pii(ctx, viewer, model)
    view = read_quarantine(ctx, model, viewer=viewer, reveal_pii=reveal, limit=limit)
    return view.summary, view.rows
