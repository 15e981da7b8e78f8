"""Prediction drift, prediction entropy and performance per window (pure).

- Score drift: KS (as ``stats.ks_method``) and PSI on the model's scores.
- Class drift: chi-square test of homogeneity and PSI over the union of predicted classes.
- Entropy: mean Shannon entropy H = -sum_k p_k ln p_k (nats) of the predicted class
  probabilities per row (a 1-D array is read as P(class 1) of a binary model); the change is
  current minus reference. Also the entropy of the predicted-class distribution.
- Performance: accuracy, F1 (binary: positive class 1 or the larger label; multiclass: macro
  average), ROC AUC (binary, Mann-Whitney U / (n_pos * n_neg) with mid-ranks for ties);
  regression: MAE = mean|y - yhat|, RMSE = sqrt(mean (y - yhat)^2). Same values as scikit-learn's
  accuracy_score, f1_score, roc_auc_score, mean_absolute_error and root_mean_squared_error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import InvalidInput
from monitoring.drift import stats


@dataclass(frozen=True)
class ScoreDrift:
    ks: stats.KSResult
    psi: float
    severity: str


@dataclass(frozen=True)
class ClassDrift:
    chi2: stats.ChiSquareResult
    psi: float
    severity: str


@dataclass(frozen=True)
class EntropyChange:
    reference: float
    current: float
    change: float


@dataclass(frozen=True)
class ClassificationPerformance:
    n: int
    accuracy: float
    f1: float
    roc_auc: float | None  # None when only one class is present or no scores were given


@dataclass(frozen=True)
class RegressionPerformance:
    n: int
    mae: float
    rmse: float


def score_drift(reference: Any, current: Any, settings: Mapping[str, Any] | None = None) -> ScoreDrift:
    """Drift of predicted scores: two-sample KS (scipy ks_2samp equal) and PSI on B reference
    quantile bins (settings["bins"], 10)."""
    ks = stats.ks_method(reference, current)
    psi = stats.psi_method(reference, current, settings).value
    return ScoreDrift(ks, psi, stats.severity_from_psi(psi))


def class_drift(reference: Any, current: Any, settings: Mapping[str, Any] | None = None) -> ClassDrift:
    """Drift of predicted classes: chi-square homogeneity test (no continuity correction) and PSI
    over the union of classes."""
    chi = stats.chi2_method(reference, current, settings)
    psi = stats.psi_categorical_method(reference, current, settings).value
    return ClassDrift(chi, psi, stats.severity_from_psi(psi))


def _probabilities(probs: Any) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[0] == 0:
        raise InvalidInput("class probabilities must be a non-empty 1-D or 2-D array")
    if np.any(p < 0) or np.any(np.isnan(p)):
        raise InvalidInput("class probabilities must be non-negative numbers")
    return p


def mean_entropy(probs: Any) -> float:
    """Mean over rows of H = -sum_k p_k ln p_k (nats), 0 ln 0 = 0; rows renormalised to sum 1."""
    p = _probabilities(probs)
    p = p / p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return float(-terms.sum(axis=1).mean())


def entropy_change(reference_probs: Any, current_probs: Any) -> EntropyChange:
    """Change in mean prediction entropy, current minus reference."""
    r, c = mean_entropy(reference_probs), mean_entropy(current_probs)
    return EntropyChange(r, c, c - r)


def class_entropy(labels: Any) -> float:
    """Entropy (nats) of the distribution of predicted classes."""
    counts = np.array(list(stats.category_counts(labels).values()), dtype=np.float64)
    if counts.sum() == 0:
        raise InvalidInput("no predicted classes")
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def roc_auc(y_true: Any, scores: Any) -> float | None:
    """Binary ROC AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg), R_pos the sum of the
    positives' mid-ranks; None when one class is absent."""
    from scipy.stats import rankdata

    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    labels = np.unique(y)
    if labels.shape[0] != 2:
        return None
    pos = y == labels[1]
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    ranks = rankdata(s)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_performance(y_true: Any, y_pred: Any, scores: Any = None) -> ClassificationPerformance:
    y, yp = np.asarray(y_true), np.asarray(y_pred)
    if y.shape != yp.shape or y.shape[0] == 0:
        raise InvalidInput("labels and predictions must be non-empty and of the same length")
    accuracy = float(np.mean(y == yp))
    labels = np.unique(np.concatenate([y, yp]))
    positives = [labels[-1]] if labels.shape[0] <= 2 else list(labels)
    f1s = []
    for lab in positives:
        tp = float(np.sum((yp == lab) & (y == lab)))
        fp = float(np.sum((yp == lab) & (y != lab)))
        fn = float(np.sum((yp != lab) & (y == lab)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) > 0 else 0.0)
    auc = roc_auc(y, scores) if scores is not None else None
    return ClassificationPerformance(int(y.shape[0]), accuracy, float(np.mean(f1s)), auc)


def regression_performance(y_true: Any, y_pred: Any) -> RegressionPerformance:
    y = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    if y.shape != yp.shape or y.shape[0] == 0:
        raise InvalidInput("targets and predictions must be non-empty and of the same length")
    err = y - yp
    return RegressionPerformance(int(y.shape[0]), float(np.mean(np.abs(err))), float(np.sqrt(np.mean(err**2))))
