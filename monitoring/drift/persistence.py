"""Storing a drift run: the run row, one row per feature (decision, severity, missing shares,
chart histogram) and one long-form row per (feature, drift method); re-running the same
(model, window, window end) replaces the earlier run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from core.db import write_scope
from monitoring.drift.results import FeatureSummary
from monitoring.drift.tables import DriftFeatureResult, DriftMethodResult, DriftRun
from monitoring.drift.views import DriftRunView, run_view
from monitoring.drift.window_stats import float_or_none


def store_run(ctx: Any, run: dict[str, Any], features: list[FeatureSummary]) -> DriftRunView:
    """Replace the run of (run["model"], run["window"], run["window_end"]) by this one."""
    with write_scope(ctx.engine) as session:
        same = (DriftRun.model == run["model"], DriftRun.window == run["window"],
                DriftRun.window_end == run["window_end"])
        old = select(DriftRun.id).where(*same)
        session.execute(delete(DriftMethodResult).where(DriftMethodResult.run_id.in_(old)))
        session.execute(delete(DriftFeatureResult).where(DriftFeatureResult.run_id.in_(old)))
        session.execute(delete(DriftRun).where(*same))
        row = DriftRun(at=datetime.now(UTC), **run)
        session.add(row)
        session.flush()
        feats = [
            DriftFeatureResult(
                run_id=row.id, feature=f.feature, kind=f.kind, drifted=f.drifted, severity=f.severity,
                missing_share_reference=f.missing_share_reference,
                missing_share_current=f.missing_share_current, histogram=dict(f.histogram),
            )
            for f in features
        ]
        rows = [
            DriftMethodResult(
                run_id=row.id, feature=r.feature, method=r.method, statistic=float_or_none(r.statistic),
                p_value=float_or_none(r.p_value), p_value_adjusted=float_or_none(r.p_value_adjusted), threshold=r.threshold, threshold_on=r.threshold_on,
                drifted=r.drifted, severity=r.severity, effect=r.effect, min_effect=r.min_effect,
                error_bound=r.error_bound, details=dict(r.details),
            )
            for f in features
            for r in f.results
        ]
        session.add_all(feats + rows)
        session.flush()
        return run_view(row, feats, rows)
