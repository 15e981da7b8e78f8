"""What readers of the explanation domain get: frozen views of a stored SHAP report, of its
charts, of one point of attribution drift and of drift that matters, and the conversion of a
stored row (or archived document) into its view: the only place that knows how a row's JSON
columns and the report's JSON are laid out for readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.timeutil import aware
from monitoring.explain import attribution as attr
from monitoring.explain import importance as imp
from monitoring.explain.tables import AttributionDriftResult, ShapReport


@dataclass(frozen=True)
class ShapReportView:
    id: int
    model: str
    version: str
    window: str
    window_start: datetime | None
    window_end: datetime | None
    created_at: datetime
    actor: str
    sample_source: str  # window | reference (the window had no logged rows)
    explainer: str
    device: str
    background_rows: int
    explained_rows: int
    seed: int
    runtime_s: float
    additivity_max_error: float
    additivity_tolerance: float
    additivity_ok: bool
    json_sha256: str
    json_size: int
    html_sha256: str
    html_size: int
    background_sha256: str
    importance: dict[str, float]  # feature -> mean |SHAP|
    reference_importance: dict[str, float]
    mlflow_logged: bool
    notes: tuple[str, ...]
    is_current: bool

    def top_features(self, k: int = 5) -> tuple[str, ...]:
        return tuple(imp.rank_order(self.importance)[:k])


@dataclass(frozen=True)
class AttributionDriftPoint:
    report_id: int
    model: str
    version: str
    created_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    distance: float
    threshold: float
    drifted: bool
    rank_changes: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ReportCharts:
    """What a report's two charts show, read from its archived JSON (the page never parses it)."""

    importance: tuple[dict[str, Any], ...]  # feature, mean_abs, low, high: most important first
    beeswarm: tuple[dict[str, Any], ...]  # feature, shap (values), value (feature values scaled to [0, 1])


def report_charts(document: dict[str, Any]) -> ReportCharts:
    """The chart data of an archived report document (see :func:`monitoring.explain.report.to_json_bytes`)."""
    return ReportCharts(
        importance=tuple(document["importance"]["features"]),
        beeswarm=tuple(document["beeswarm"]),
    )


@dataclass(frozen=True)
class DriftThatMattersView:
    model: str
    version: str
    report_id: int
    drift_checked_at: datetime | None
    result: attr.DriftThatMatters


def report_view(row: ShapReport) -> ShapReportView:
    """The view of a stored ``shap_reports`` row."""
    return ShapReportView(
        id=row.id,
        model=row.model,
        version=row.version,
        window=row.window,
        window_start=aware(row.window_start),
        window_end=aware(row.window_end),
        created_at=aware(row.created_at) or row.created_at,
        actor=row.actor,
        sample_source=row.sample_source,
        explainer=row.explainer,
        device=row.device,
        background_rows=row.background_rows,
        explained_rows=row.explained_rows,
        seed=row.seed,
        runtime_s=row.runtime_s,
        additivity_max_error=row.additivity_max_error,
        additivity_tolerance=row.additivity_tolerance,
        additivity_ok=bool(row.additivity_ok),
        json_sha256=row.json_sha256,
        json_size=row.json_size,
        html_sha256=row.html_sha256,
        html_size=row.html_size,
        background_sha256=row.background_sha256,
        importance={k: float(v) for k, v in (row.importance or {}).items()},
        reference_importance=reference_vector(row),
        mlflow_logged=bool(row.mlflow_logged),
        notes=tuple(n for n in (row.notes or "").split("\n") if n),
        is_current=bool(row.is_current),
    )


def reference_vector(row: ShapReport) -> dict[str, float]:
    """The reference importance stored with a report (feature -> mean |SHAP|; empty if none)."""
    ref = row.reference_importance or {}
    return {k: float(v) for k, v in (ref.get("vector") or {}).items()}


def drift_point(row: AttributionDriftResult) -> AttributionDriftPoint:
    """The view of a stored ``attribution_drift_results`` row."""
    return AttributionDriftPoint(
        report_id=row.report_id,
        model=row.model,
        version=row.version,
        created_at=aware(row.created_at) or row.created_at,
        window_start=aware(row.window_start),
        window_end=aware(row.window_end),
        distance=row.distance,
        threshold=row.threshold,
        drifted=bool(row.drifted),
        rank_changes=tuple(row.rank_changes or ()),
    )
