"""Drift that matters: the latest drift check's features ranked by their drift severity weighted
by their share of the model's SHAP importance, so the drifted features that move predictions
come first. The arithmetic is :func:`monitoring.explain.attribution.drift_that_matters`; this
module reads its two inputs (the current SHAP report and the latest drift run) for a viewer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from core.context import AppContext
from governance.rbac import require_view
from monitoring.explain import attribution as attr
from monitoring.explain.reports import current_report, latest_report
from monitoring.explain.views import DriftThatMattersView

# Drift severity words on the PSI scale (monitoring.drift: < 0.1 none, 0.1-0.25 moderate,
# >= 0.25 significant).
_SEVERITY_WORDS = {"none": 0.0, "moderate": 0.1, "significant": 0.25}


def severity_value(value: Any) -> float:
    """A drift check's severity as a non-negative number (words such as 'moderate' mapped onto
    the PSI scale; None, NaN and negative numbers are 0)."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return 0.0 if math.isnan(float(value)) else max(float(value), 0.0)
    return _SEVERITY_WORDS.get(str(value).strip().lower(), 0.0)


def drift_that_matters(
    ctx: AppContext, model: str, *, viewer: str | None = None, version: str | int | None = None
) -> DriftThatMattersView | None:
    """The latest drift check's features ranked by severity x importance share (None if either is missing).

    Severity is the feature's PSI in the drift check (its severity measure; the severity word
    mapped onto the PSI scale when PSI is missing), weighted by the feature's share of mean |SHAP|
    in the version's current report (default: the newest current report of any version).
    """
    require_view(ctx, viewer, model)
    report = current_report(ctx, model, version) if version is not None else latest_report(ctx, model)
    if report is None:
        return None
    run = _latest_drift_run(ctx, model)
    if run is None:
        return None
    severity: dict[str, float] = {}
    drifted: dict[str, bool] = {}
    for feature in getattr(run, "features", None) or ():
        name = _field(feature, "feature")
        if name is None:
            continue
        psi = _field(feature, "psi")
        severity[str(name)] = severity_value(psi if psi is not None else _field(feature, "severity"))
        drifted[str(name)] = bool(_field(feature, "drifted"))
    return DriftThatMattersView(
        model=model,
        version=report.version,
        report_id=report.id,
        drift_checked_at=getattr(run, "at", None),
        result=attr.drift_that_matters(report.importance, severity, drifted),
    )


def _latest_drift_run(ctx: AppContext, model: str) -> Any | None:
    """The drift service's newest run of ``model`` (None in a build without the drift package)."""
    try:
        from monitoring.drift import service as drift_service
    except ModuleNotFoundError:
        return None
    return drift_service.latest_run(ctx, model)


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
