"""The computation of one drift window: stream the window's logs through the drift engine
(monitoring.drift.compare, with the model's selected methods) and the side statistics
(window_stats), add prediction drift and performance, and build the Evidently report. Returns
what persistence stores; reads nothing but the logs, the profile and the artifact store."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd

from core.actor import Actor
from core.config import ModelSpec
from monitoring.drift.profile_store import load_profile
from monitoring.drift.resolution import champion_version, profile_for
from monitoring.drift.results import FeatureSummary
from monitoring.drift.views import SEVERITY_RANK, ProfileView, feature_sort_key
from monitoring.drift.window_stats import (
    PREDICTION_COLUMNS,
    WindowAccumulator,
    prediction_and_performance,
    prediction_frame,
    reference_predictions,
    reference_ranges,
)
from monitoring.logs.schema import feature_column

log = logging.getLogger("vigil.drift")

REPORT_FEATURES = 5  # top drifted features in the Evidently report


def window_batches(
    ctx: Any, spec: ModelSpec, start: datetime, end: datetime, acc: WindowAccumulator
) -> Iterator[pd.DataFrame]:
    from monitoring.logs.store import iter_window_batches

    columns = [feature_column(f.name) for f in spec.features] + list(PREDICTION_COLUMNS)
    rename = {feature_column(f.name): f.name for f in spec.features}
    for batch in iter_window_batches(ctx.settings, spec.name, start, end, columns=columns, spec=spec):
        frame = batch.to_pandas().rename(columns=rename)
        acc.add(frame)
        yield frame[[f.name for f in spec.features]]


def report_artifact(
    ctx: Any,
    spec: ModelSpec,
    profile: ProfileView,
    current: pd.DataFrame,
    features: list[FeatureSummary],
    window_end: datetime,
) -> tuple[str | None, str | None, str]:
    """Save the Evidently report of the top drifted non-PII features; (sha, name, note)."""
    from monitoring.drift.report import build_report_html

    pii = set(spec.pii_features)
    ranked = [f.feature for f in sorted(features, key=feature_sort_key) if f.feature not in pii]
    chosen = ranked[:REPORT_FEATURES]
    if not chosen or current.empty or not profile.sample_sha256:
        return None, None, ""
    try:
        ref_bytes = ctx.artifacts.get(
            "profiles", profile.sample_sha256, f"{spec.name}-v{profile.version}-sample.parquet"
        )
        reference = pd.read_parquet(io.BytesIO(ref_bytes))
        chosen = [c for c in chosen if c in reference.columns]
        categorical = [c for c in chosen if c in spec.categorical_features]
        html = build_report_html(
            reference[chosen],
            current[chosen],
            numeric=[c for c in chosen if c not in categorical],
            categorical=categorical,
            title=f"{spec.name} drift, window ending {window_end:%Y-%m-%d %H:%M} UTC",
        )
    except Exception as exc:  # noqa: BLE001 - the report is an extra: the run stands without it
        log.warning("%s: Evidently report failed: %s", spec.name, exc)
        return None, None, f"Evidently report failed ({type(exc).__name__}: {exc})"
    name = f"{spec.name}-drift-{window_end:%Y%m%dT%H%M%SZ}.html"
    stored = ctx.artifacts.put("reports", name, html)
    return stored.sha256, stored.name, ""


def compare_with_model_settings(profile: Any, batches: Any, spec: ModelSpec) -> Any:
    """monitoring.drift.compare.compare of ``batches`` (feature-named frames) against ``profile``
    with the model's configured methods, alpha, multiple-testing correction and minimum effects:
    the one place that says how a model's data is judged (drift runs and release evidence)."""
    from monitoring.drift.compare import compare

    th = spec.thresholds
    return compare(
        profile,
        batches,
        alpha=th.drift_alpha,
        correction=th.multiple_testing,
        min_effect_ks=th.min_effect_ks,
        min_effect_psi=th.min_effect_psi,
        methods=spec.drift.methods,
        thresholds=spec.drift.thresholds,
    )


def compute_window(
    ctx: Any, actor: Actor, spec: ModelSpec, window: str, start: datetime, end: datetime, report: bool
) -> tuple[dict[str, Any], list[FeatureSummary]]:
    """(the run row's fields, the feature results) of the window ``[start, end)``."""
    notes: list[str] = []
    version, note = champion_version(ctx, spec, start, end)
    if note:
        notes.append(note)
    prof, note = profile_for(ctx, actor, spec, version)
    if note:
        notes.append(note)
    profile = load_profile(ctx, prof)
    th = spec.thresholds
    acc = WindowAccumulator(spec=spec, charts=prof.charts, ranges=reference_ranges(profile))
    batches = window_batches(ctx, spec, start, end, acc)
    first = next(batches, None)
    results: list[FeatureSummary] = []
    drift = None
    if first is not None:

        def _all() -> Iterator[pd.DataFrame]:
            yield first
            yield from batches

        drift = compare_with_model_settings(profile, _all(), spec)
        results = [replace(f, histogram=acc.histogram(f.feature)) for f in drift.features]
    current_predictions = prediction_frame(acc.predictions)
    prediction: dict[str, Any] = {}
    performance: dict[str, Any] = {}
    if not current_predictions.empty:
        try:
            baseline_frame, baseline = reference_predictions(ctx, spec, prof, end - start)
            prediction, performance = prediction_and_performance(
                spec, current_predictions, baseline_frame, baseline, {"bins": th.psi_bins}
            )
            if acc.prediction_rate < 1.0:
                prediction["sample_rate"] = acc.prediction_rate
                notes.append(
                    f"prediction figures from a {acc.prediction_rate:.2%} uniform sample of the rows"
                )
        except Exception as exc:  # noqa: BLE001 - prediction figures are extras: the feature results stand
            log.warning("%s: prediction drift failed: %s", spec.name, exc)
            notes.append(f"prediction drift failed ({type(exc).__name__}: {exc})")
    quality: dict[str, Any] = {}
    if acc.rows:
        quality = {
            "rows": acc.rows,
            "missing_share": {k: v / acc.rows for k, v in acc.missing.items()},
            "out_of_range_share": {k: v / acc.rows for k, v in acc.out_of_range.items()},
            "max_missing_share": th.max_missing_share,
        }
        if drift is not None:  # compare()'s rules: an all-missing feature is a data-quality failure
            feats = drift.features
            quality["non_finite"] = {f.feature: f.non_finite_current for f in feats if f.non_finite_current}
            quality["data_quality"] = {f.feature: f.data_quality for f in feats if f.data_quality != "ok"}
            quality["data_quality_failures"] = list(drift.data_quality_failures)
    sha = name = None
    if report and results:
        sha, name, note = report_artifact(ctx, spec, prof, acc.sample(), results, end)
        if note:
            notes.append(note)
    drifted = sum(1 for f in results if f.drifted)
    worst = max((f.severity for f in results), key=lambda s: SEVERITY_RANK.get(s, 0), default="none")
    run = {
        "model": spec.name,
        "version": version or prof.version,
        "window": window,
        "window_start": start,
        "window_end": end,
        "status": drift.status if drift is not None and results else "no_data",
        "rows": acc.rows,
        "rows_reference": int(getattr(drift, "rows_reference", prof.rows) if drift else prof.rows),
        "features_tested": len(results),
        "drifted_features": drifted,
        "share_drifted": drifted / len(results) if results else 0.0,
        "max_severity": worst,
        "dataset_drift": bool(drift.dataset_drift) if drift else False,
        "profile_id": prof.id,
        "report_sha256": sha,
        "report_name": name,
        "note": "; ".join(notes)[:4000],
        "created_by": actor.username,
        "prediction": prediction,
        "performance": performance,
        "quality": quality,
    }
    return run, results
