"""Frozen views of stored drift results (what the page, jobs and tests read) and small shared
helpers: UTC normalisation, the severity order, window lengths. A run's features are
monitoring.drift.results.FeatureSummary, each with its long-form method rows (MethodResult):
the one result type from the engine to the page."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.timeutil import aware, parse_window  # noqa: F401  (parse_window re-exported: one rule)
from monitoring.drift.results import FeatureSummary, MethodResult
from monitoring.drift.tables import DriftFeatureResult, DriftMethodResult, DriftRun, ReferenceProfileRecord

SEVERITY_RANK = {"none": 0, "moderate": 1, "significant": 2}


@dataclass(frozen=True)
class ProfileView:
    id: int
    model: str
    version: str
    source: str
    rows: int
    created_at: datetime
    created_by: str
    artifact_sha256: str
    artifact_name: str
    sample_sha256: str | None
    is_current: bool
    window_start: datetime | None
    window_end: datetime | None
    charts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftRunView:
    id: int
    model: str
    version: str
    window: str
    window_start: datetime
    window_end: datetime
    at: datetime
    status: str  # ok | no_data | quality_failed (see monitoring.drift.compare)
    rows: int
    rows_reference: int
    features_tested: int
    drifted_features: int
    share_drifted: float
    max_severity: str
    dataset_drift: bool
    profile_id: int | None
    report_sha256: str | None
    report_name: str | None
    note: str
    created_by: str
    prediction: dict[str, Any]
    performance: dict[str, Any]
    quality: dict[str, Any]
    features: tuple[FeatureSummary, ...] = ()

    @property
    def drifted_feature_names(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    @property
    def results(self) -> list[MethodResult]:
        """The run's long-form rows: one per (feature, method), most severe feature first."""
        return [r for f in self.features for r in f.results]


def profile_view(row: ReferenceProfileRecord) -> ProfileView:
    return ProfileView(
        row.id,
        row.model,
        row.version,
        row.source,
        row.rows,
        aware(row.created_at),  # type: ignore[arg-type]
        row.created_by,
        row.artifact_sha256,
        row.artifact_name,
        row.sample_sha256,
        row.is_current,
        aware(row.window_start),
        aware(row.window_end),
        dict(row.charts or {}),
    )


def method_view(row: DriftMethodResult) -> MethodResult:
    return MethodResult(
        feature=row.feature, method=row.method, statistic=row.statistic, p_value=row.p_value,
        threshold=row.threshold, drifted=bool(row.drifted), severity=row.severity,
        threshold_on=row.threshold_on, p_value_adjusted=row.p_value_adjusted, effect=row.effect,
        min_effect=row.min_effect, error_bound=row.error_bound, details=dict(row.details or {}),
    )


def feature_view(row: DriftFeatureResult, methods: list[DriftMethodResult] | None = None) -> FeatureSummary:
    """A stored feature row with its method rows (those of the same feature)."""
    mine = tuple(method_view(m) for m in methods or [] if m.feature == row.feature)
    return FeatureSummary(
        feature=row.feature, kind=row.kind, drifted=bool(row.drifted), severity=row.severity,
        missing_share_reference=row.missing_share_reference, missing_share_current=row.missing_share_current,
        results=mine, histogram=dict(row.histogram or {}),
    )


def run_view(row: DriftRun, features: list[DriftFeatureResult] | None = None,
             methods: list[DriftMethodResult] | None = None) -> DriftRunView:
    feats = tuple(sorted((feature_view(f, methods) for f in features or []), key=feature_sort_key))
    return DriftRunView(
        row.id,
        row.model,
        row.version,
        row.window,
        aware(row.window_start),
        aware(row.window_end),  # type: ignore[arg-type]
        aware(row.at),
        row.status,
        row.rows,
        row.rows_reference,
        row.features_tested,  # type: ignore[arg-type]
        row.drifted_features,
        row.share_drifted,
        row.max_severity,
        bool(row.dataset_drift),
        row.profile_id,
        row.report_sha256,
        row.report_name,
        row.note,
        row.created_by,
        dict(row.prediction or {}),
        dict(row.performance or {}),
        dict(row.quality or {}),
        feats,
    )


def feature_sort_key(f: FeatureSummary) -> tuple[Any, ...]:
    """Most severe first: drifted, severity, PSI, smaller adjusted p-value, name."""
    psi = f.psi if f.psi is not None and not math.isnan(f.psi) else -1.0
    p = f.p_value_adjusted if f.p_value_adjusted is not None else 2.0
    return (not f.drifted, -SEVERITY_RANK.get(f.severity, 0), -psi, p, f.feature)


