"""Reads of stored SHAP reports and attribution drift, each checked in the service.

Every reader takes ``viewer``: the username whose ``model.view`` on the model is checked before
anything is read (PermissionDenied otherwise). ``viewer=None`` is a trusted internal caller (a
job or a service composing its own results, e.g. a release approval citing the current report),
as :func:`governance.rbac.require_view` defines.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import desc, select

from core.context import AppContext
from core.db import session_scope
from core.timeutil import utc_or_now
from governance.rbac import require_view
from monitoring.explain import archive
from monitoring.explain.tables import AttributionDriftResult, ShapReport
from monitoring.explain.views import (
    AttributionDriftPoint,
    ReportCharts,
    ShapReportView,
    drift_point,
    report_charts,
    report_view,
)


def current_report(
    ctx: AppContext, model: str, version: str | int, *, viewer: str | None = None
) -> ShapReportView | None:
    """The version's current SHAP report, or None when it has none (release approvals cite it)."""
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        row = session.scalars(
            select(ShapReport)
            .where(
                ShapReport.model == model, ShapReport.version == str(version), ShapReport.is_current.is_(True)
            )
            .order_by(desc(ShapReport.id))
            .limit(1)
        ).first()
        return report_view(row) if row is not None else None


def latest_report(ctx: AppContext, model: str, *, viewer: str | None = None) -> ShapReportView | None:
    """The newest current report of any version of ``model``."""
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        row = session.scalars(
            select(ShapReport)
            .where(ShapReport.model == model, ShapReport.is_current.is_(True))
            .order_by(desc(ShapReport.created_at), desc(ShapReport.id))
            .limit(1)
        ).first()
        return report_view(row) if row is not None else None


def report_history(
    ctx: AppContext, model: str, *, viewer: str | None = None, limit: int = 100
) -> list[ShapReportView]:
    """Reports of ``model``, newest first."""
    require_view(ctx, viewer, model)
    with session_scope(ctx.engine) as session:
        rows = session.scalars(
            select(ShapReport)
            .where(ShapReport.model == model)
            .order_by(desc(ShapReport.created_at), desc(ShapReport.id))
            .limit(limit)
        )
        return [report_view(r) for r in rows]


def report_document(ctx: AppContext, view: ShapReportView, *, viewer: str | None = None) -> dict[str, Any]:
    """The archived JSON report (checksum verified by the artifact store)."""
    require_view(ctx, viewer, view.model)
    return archive.read_document(ctx, view.json_sha256)


def report_chart_data(ctx: AppContext, view: ShapReportView, *, viewer: str | None = None) -> ReportCharts:
    """The importance bars (with intervals) and beeswarm points of the archived report."""
    return report_charts(report_document(ctx, view, viewer=viewer))


def report_html(ctx: AppContext, view: ShapReportView, *, viewer: str | None = None) -> bytes:
    """The archived HTML page of the report."""
    require_view(ctx, viewer, view.model)
    return archive.read_html(ctx, view.html_sha256)


def attribution_drift_over_time(
    ctx: AppContext,
    model: str,
    *,
    viewer: str | None = None,
    days: int | None = None,
    at: datetime | None = None,
) -> list[AttributionDriftPoint]:
    """Attribution drift of each report's window, oldest first (the last ``days`` before ``at``)."""
    require_view(ctx, viewer, model)
    stmt = select(AttributionDriftResult).where(AttributionDriftResult.model == model)
    if days is not None:
        stmt = stmt.where(AttributionDriftResult.window_end >= utc_or_now(at) - timedelta(days=days))
    with session_scope(ctx.engine) as session:
        rows = session.scalars(stmt.order_by(AttributionDriftResult.window_end, AttributionDriftResult.id))
        return [drift_point(r) for r in rows]
