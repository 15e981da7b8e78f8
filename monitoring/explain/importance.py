"""Global importance statistics from SHAP values: pure functions of arrays (no I/O, no clock).

- Global importance of feature j: ``I_j = mean_i |phi_ij|`` (Lundberg & Lee 2017, the bar plot
  of the shap package), with a percentile bootstrap interval over rows (Efron & Tibshirani
  1993): ``n_boot`` resamples of the rows with replacement, drawn as multinomial counts so that
  one matrix product gives every resample's mean.
- Beeswarm data: per feature a subsample of (SHAP value, feature value scaled to its rank in
  [0, 1]) points, the data behind shap's beeswarm plot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import InvalidInput


@dataclass(frozen=True)
class FeatureImportance:
    feature: str
    mean_abs: float  # mean |SHAP|
    low: float  # bootstrap interval
    high: float
    share: float  # mean_abs / sum of all mean_abs (0 when all are 0)
    rank: int  # 1 = most important
    mean: float  # mean signed SHAP value (direction on average)


@dataclass(frozen=True)
class ImportanceResult:
    features: tuple[FeatureImportance, ...]  # ordered by rank
    rows: int
    n_boot: int
    confidence: float

    def vector(self) -> dict[str, float]:
        """feature -> mean |SHAP| (the importance vector attribution drift compares)."""
        return {f.feature: f.mean_abs for f in self.features}

    def top(self, k: int = 5) -> tuple[str, ...]:
        return tuple(f.feature for f in self.features[:k])

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "n_boot": self.n_boot,
            "confidence": self.confidence,
            "features": [f.__dict__.copy() for f in self.features],
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> ImportanceResult:
        return cls(
            features=tuple(FeatureImportance(**f) for f in data["features"]),
            rows=int(data["rows"]),
            n_boot=int(data["n_boot"]),
            confidence=float(data["confidence"]),
        )


@dataclass(frozen=True)
class BeeswarmFeature:
    feature: str
    shap_values: tuple[float, ...]
    scaled_values: tuple[float | None, ...]  # feature value's rank in [0, 1]; None when missing


def _check(values: np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise InvalidInput("SHAP values must be a 2-D array (rows x features)")
    if values.shape[1] != len(feature_names):
        raise InvalidInput(f"{values.shape[1]} SHAP columns for {len(feature_names)} feature names")
    return values


def rank_order(scores: Mapping[str, float]) -> list[str]:
    """Features by descending score; ties broken by name so that the order is deterministic."""
    return sorted(scores, key=lambda name: (-float(scores[name]), name))


def global_importance(
    values: np.ndarray,
    feature_names: Sequence[str],
    *,
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> ImportanceResult:
    """Mean |SHAP| per feature with a percentile bootstrap interval, ranked."""
    values = _check(values, feature_names)
    rows = values.shape[0]
    if rows == 0:
        raise InvalidInput("no explained rows: cannot compute importance")
    if not 0 < confidence < 1:
        raise InvalidInput("confidence must be between 0 and 1")
    absolute = np.abs(values)
    mean_abs = absolute.mean(axis=0)
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(rows, np.full(rows, 1.0 / rows), size=n_boot)
        boots = counts @ absolute / rows  # (n_boot, features)
        alpha = (1.0 - confidence) / 2.0
        low, high = np.quantile(boots, [alpha, 1.0 - alpha], axis=0)
    else:
        low = high = mean_abs
    total = float(mean_abs.sum())
    scores = dict(zip(feature_names, mean_abs.tolist(), strict=True))
    order = rank_order(scores)
    index = {name: i for i, name in enumerate(feature_names)}
    means = values.mean(axis=0)
    features = tuple(
        FeatureImportance(
            feature=name,
            mean_abs=float(mean_abs[index[name]]),
            low=float(low[index[name]]),
            high=float(high[index[name]]),
            share=float(mean_abs[index[name]] / total) if total > 0 else 0.0,
            rank=rank,
            mean=float(means[index[name]]),
        )
        for rank, name in enumerate(order, start=1)
    )
    return ImportanceResult(features=features, rows=rows, n_boot=n_boot, confidence=confidence)


def top_features(result: ImportanceResult, k: int = 5) -> tuple[str, ...]:
    return result.top(k)


def _scaled_ranks(column: np.ndarray) -> list[float | None]:
    """Each value's rank among the column's non-missing values, scaled to [0, 1]."""
    out: list[float | None] = [None] * len(column)
    ok = np.flatnonzero(~np.isnan(column))
    if len(ok) == 0:
        return out
    ranks = np.argsort(np.argsort(column[ok], kind="stable"), kind="stable")
    denom = max(len(ok) - 1, 1)
    for position, rank in zip(ok.tolist(), ranks.tolist(), strict=True):
        out[position] = round(rank / denom, 4)
    return out


def beeswarm_data(
    values: np.ndarray,
    data: np.ndarray,
    feature_names: Sequence[str],
    *,
    max_points: int = 300,
    features: Sequence[str] | None = None,
    seed: int = 0,
) -> tuple[BeeswarmFeature, ...]:
    """Per feature (in the given order), up to ``max_points`` (SHAP, scaled value) points."""
    values = _check(values, feature_names)
    data = np.asarray(data, dtype=np.float64)
    if data.shape != values.shape:
        raise InvalidInput("feature data and SHAP values must have the same shape")
    rows = values.shape[0]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(rows, size=max_points, replace=False)) if rows > max_points else np.arange(rows)
    index = {name: i for i, name in enumerate(feature_names)}
    out = []
    for name in features if features is not None else feature_names:
        j = index[name]
        scaled = _scaled_ranks(data[:, j])
        out.append(
            BeeswarmFeature(
                feature=name,
                shap_values=tuple(round(float(v), 6) for v in values[pick, j]),
                scaled_values=tuple(scaled[i] for i in pick.tolist()),
            )
        )
    return tuple(out)
