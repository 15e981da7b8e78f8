"""What a drift run gathers beside the feature statistics, while the window's batches stream
through: current-window chart histograms, missing and out-of-range shares, a sample for the
Evidently report, and the prediction columns for prediction drift, entropy and performance
(computed with helper D1's pure functions in monitoring.drift.prediction)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from core.config import ModelSpec
from monitoring.drift import stats
from monitoring.drift.profile_store import SAMPLE_ROWS
from monitoring.drift.views import ProfileView

PREDICTION_COLUMNS = ("version", "prediction", "score", "label", "status")
#: Prediction rows kept per window; beyond it a uniform random sample (halving the rate) keeps
#: memory bounded, and the run says the prediction figures come from a sample.
PREDICTION_SAMPLE_CAP = 500_000


@dataclass
class WindowAccumulator:
    """Side statistics gathered while the batches stream into compare()."""

    spec: ModelSpec
    charts: dict[str, Any]
    ranges: dict[str, tuple[float, float]]
    rows: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)
    hist: dict[str, Any] = field(default_factory=dict)
    samples: list[pd.DataFrame] = field(default_factory=list)
    predictions: list[pd.DataFrame] = field(default_factory=list)
    prediction_rows: int = 0
    prediction_rate: float = 1.0  # < 1: the prediction columns are a uniform sample at this rate
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def add(self, frame: pd.DataFrame) -> None:
        self.rows += len(frame)
        for feat in self.spec.features:
            col = frame[feat.name]
            missing = col.isna() if feat.type == "numeric" else stats.categorical_missing_mask(col)
            self.missing[feat.name] = self.missing.get(feat.name, 0) + int(missing.sum())
            chart = self.charts.get(feat.name)
            if feat.type == "numeric":
                values = col.to_numpy(dtype=float, na_value=np.nan)
                values = values[~np.isnan(values)]
                lo, hi = self.ranges.get(feat.name, (-np.inf, np.inf))
                self.out_of_range[feat.name] = self.out_of_range.get(feat.name, 0) + int(
                    np.count_nonzero((values < lo) | (values > hi))
                )
                if chart and chart.get("kind") == "numeric":
                    edges = np.asarray(chart["edges"])
                    counts = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]
                    self.hist[feat.name] = self.hist.get(feat.name, 0) + counts
            elif chart and chart.get("kind") == "categorical":
                known = chart["categories"]
                vc = col[~missing].astype(str).value_counts()
                counts = self.hist.setdefault(feat.name, {})
                for cat, n in vc.items():
                    key = cat if cat in known else "(other)"
                    counts[key] = counts.get(key, 0) + int(n)
        keep = min(len(frame), SAMPLE_ROWS)
        self.samples.append(
            frame[[f.name for f in self.spec.features]].sample(
                n=keep, random_state=int(self.rng.integers(1 << 31))
            )
        )
        cols = [c for c in PREDICTION_COLUMNS if c in frame.columns]
        part = frame[cols]
        if self.prediction_rate < 1.0:
            part = part[self.rng.random(len(part)) < self.prediction_rate]
        self.predictions.append(part)
        self.prediction_rows += len(part)
        while self.prediction_rows > PREDICTION_SAMPLE_CAP:  # halve the sample, halve the rate
            self.predictions = [p[self.rng.random(len(p)) < 0.5] for p in self.predictions]
            self.prediction_rows = sum(len(p) for p in self.predictions)
            self.prediction_rate /= 2

    def histogram(self, name: str) -> dict[str, Any]:
        chart = self.charts.get(name)
        if not chart or name not in self.hist:
            return {}
        if chart["kind"] == "numeric":
            counts = np.asarray(self.hist[name], dtype=float)
            total = counts.sum()
            return {"current": (counts / total).tolist() if total else counts.tolist()}
        counts = self.hist[name]
        total = sum(counts.values()) or 1
        cats = list(chart["categories"])
        extra = sorted((c for c in counts if c not in cats), key=lambda c: -counts[c])
        return {"current": [counts.get(c, 0) / total for c in cats + extra], "extra_categories": extra}

    def sample(self) -> pd.DataFrame:
        if not self.samples:
            return pd.DataFrame()
        frame = pd.concat(self.samples, ignore_index=True)
        return frame.sample(n=min(SAMPLE_ROWS, len(frame)), random_state=0)


def reference_ranges(profile: Any) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for feat in getattr(profile, "features", ()):
        if getattr(feat, "kind", "") == "numeric" and getattr(feat, "n", 0):
            out[feat.name] = (float(feat.minimum), float(feat.maximum))
    return out


def float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def prediction_frame(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    data = pd.concat(frames, ignore_index=True)
    return data[data["status"] == "ok"] if "status" in data.columns else data


def reference_predictions(
    ctx: Any, spec: ModelSpec, profile: ProfileView, window: timedelta
) -> tuple[pd.DataFrame, str]:
    """Baseline predictions: the profile's pinned window, else the version's first window of logs."""
    from monitoring.logs.store import partition_days, read_window

    columns = list(PREDICTION_COLUMNS)
    if profile.source == "window" and profile.window_start and profile.window_end:
        table = read_window(
            ctx.settings, spec.name, profile.window_start, profile.window_end, columns, spec=spec
        )
        return prediction_frame([table.to_pandas()]), "the profile's window"
    for day in partition_days(ctx.settings, spec.name):  # the configured store: a directory or a URL
        first = datetime(day.year, day.month, day.day, tzinfo=UTC)
        table = read_window(
            ctx.settings, spec.name, first, first + timedelta(days=1), ["timestamp", "version"], spec=spec
        )
        frame = table.to_pandas()
        frame = frame[frame["version"] == profile.version]
        if not frame.empty:
            begin = frame["timestamp"].min().to_pydatetime()
            data = read_window(ctx.settings, spec.name, begin, begin + window, columns, spec=spec).to_pandas()
            data = data[data["version"] == profile.version]
            return prediction_frame([data]), f"the first {window} of version {profile.version} in production"
    return prediction_frame([]), ""


def _num(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").dropna().to_numpy(dtype=float)


def prediction_and_performance(
    spec: ModelSpec, current: pd.DataFrame, reference: pd.DataFrame, baseline: str, settings: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Prediction drift against the baseline, entropy, and performance where labels exist."""
    from monitoring.drift import prediction as pm

    pred: dict[str, Any] = {"rows": len(current)}
    perf: dict[str, Any] = {}
    if current.empty:
        return pred, perf
    if baseline:
        pred["baseline"] = baseline
        pred["rows_reference"] = len(reference)
    if spec.task == "classification":
        classes = current["prediction"].dropna().astype(str)
        pred["class_shares"] = {
            str(k): float(v) for k, v in classes.value_counts(normalize=True).sort_index().items()
        }
        pred["entropy"] = float(pm.class_entropy(classes.to_numpy()))
        scores = _num(current["score"])
        ref_scores = _num(reference["score"]) if not reference.empty else np.empty(0)
        if scores.size:
            pred["score_mean"] = float(scores.mean())
            pred["score_entropy"] = float(pm.mean_entropy(np.clip(scores, 0.0, 1.0)))
        if scores.size and ref_scores.size:
            sd = pm.score_drift(ref_scores, scores, settings)
            pred["score_drift"] = {
                "ks_statistic": sd.ks.statistic,
                "ks_pvalue": sd.ks.pvalue,
                "psi": sd.psi,
                "severity": sd.severity,
            }
            change = pm.entropy_change(np.clip(ref_scores, 0.0, 1.0), np.clip(scores, 0.0, 1.0))
            pred["entropy_change"] = change.change
        ref_classes = reference["prediction"].dropna().astype(str).to_numpy() if not reference.empty else []
        if len(classes) and len(ref_classes):
            cd = pm.class_drift(ref_classes, classes.to_numpy(), settings)
            pred["class_drift"] = {
                "chi2_statistic": cd.chi2.statistic,
                "chi2_pvalue": cd.chi2.pvalue,
                "psi": cd.psi,
                "severity": cd.severity,
            }
        labelled = current.dropna(subset=["label", "prediction"])
        if len(labelled):
            s = pd.to_numeric(labelled["score"], errors="coerce")
            result = pm.classification_performance(
                labelled["label"].astype(str).to_numpy(),
                labelled["prediction"].astype(str).to_numpy(),
                s.to_numpy(dtype=float) if s.notna().all() else None,
            )
            perf = {
                "labelled": result.n,
                "accuracy": result.accuracy,
                "f1": result.f1,
                "roc_auc": result.roc_auc,
            }
    else:
        values = _num(current["prediction"])
        if values.size:
            pred.update(mean=float(values.mean()), std=float(values.std()))
            ref_values = _num(reference["prediction"]) if not reference.empty else np.empty(0)
            if ref_values.size:
                sd = pm.score_drift(ref_values, values, settings)
                pred["prediction_drift"] = {
                    "ks_statistic": sd.ks.statistic,
                    "ks_pvalue": sd.ks.pvalue,
                    "psi": sd.psi,
                    "severity": sd.severity,
                }
        pairs = pd.DataFrame(
            {
                "y": pd.to_numeric(current["label"], errors="coerce"),
                "p": pd.to_numeric(current["prediction"], errors="coerce"),
            }
        ).dropna()
        if len(pairs):
            result = pm.regression_performance(pairs["y"].to_numpy(), pairs["p"].to_numpy())
            perf = {"labelled": result.n, "mae": result.mae, "rmse": result.rmse}
    return pred, perf
