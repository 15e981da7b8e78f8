"""Frozen views of stored drift results (what the page, jobs and tests read) and small shared
helpers: UTC normalisation, the severity order, window lengths."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.errors import InvalidInput
from monitoring.drift.tables import DriftFeatureResult, DriftRun, ReferenceProfileRecord
from core.timeutil import aware

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
class FeatureResultView:
    feature: str
    kind: str
    ks_statistic: float | None
    ks_pvalue: float | None
    ks_error_bound: float | None
    chi2_statistic: float | None
    chi2_pvalue: float | None
    psi: float | None
    p_value_adjusted: float | None
    drifted: bool
    severity: str
    missing_share_reference: float | None
    missing_share_current: float | None
    histogram: dict[str, Any] = field(default_factory=dict)

    @property
    def p_value(self) -> float | None:
        return self.ks_pvalue if self.kind == "numeric" else self.chi2_pvalue


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
    features: tuple[FeatureResultView, ...] = ()

    @property
    def drifted_feature_names(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]


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


def feature_view(row: DriftFeatureResult) -> FeatureResultView:
    return FeatureResultView(
        row.feature,
        row.kind,
        row.ks_statistic,
        row.ks_pvalue,
        row.ks_error_bound,
        row.chi2_statistic,
        row.chi2_pvalue,
        row.psi,
        row.p_value_adjusted,
        bool(row.drifted),
        row.severity,
        row.missing_share_reference,
        row.missing_share_current,
        dict(row.histogram or {}),
    )


def run_view(row: DriftRun, features: list[DriftFeatureResult] | None = None) -> DriftRunView:
    feats = tuple(sorted((feature_view(f) for f in features or []), key=feature_sort_key))
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


def feature_sort_key(f: FeatureResultView) -> tuple[Any, ...]:
    """Most severe first: drifted, severity, PSI, smaller adjusted p-value, name."""
    psi = f.psi if f.psi is not None and not math.isnan(f.psi) else -1.0
    p = f.p_value_adjusted if f.p_value_adjusted is not None else 2.0
    return (not f.drifted, -SEVERITY_RANK.get(f.severity, 0), -psi, p, f.feature)


_WINDOW = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")


def parse_window(window: str) -> timedelta:
    """``15m``, ``1h``, ``6h``, ``1d``, ``7d``, ``1w`` -> timedelta."""
    match = _WINDOW.match(window or "")
    if not match or int(match.group(1)) <= 0:
        raise InvalidInput(f"window {window!r}: expected a length such as 1h, 6h or 1d")
    amount, unit = int(match.group(1)), match.group(2)
    return {
        "m": timedelta(minutes=amount),
        "h": timedelta(hours=amount),
        "d": timedelta(days=amount),
        "w": timedelta(weeks=amount),
    }[unit]
