"""Prediction drift, entropy, performance (against scikit-learn / scipy) and data quality."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics

from core.errors import InvalidInput
from monitoring.drift import prediction as pm
from monitoring.drift import quality
from monitoring.drift.profile import ReferenceProfile


def test_score_and_class_drift():
    rng = np.random.default_rng(0)
    ref, cur = rng.beta(2, 5, size=4000), rng.beta(2.5, 5, size=3000)
    sd = pm.score_drift(ref, cur)
    want = stats.ks_2samp(ref, cur)
    assert sd.ks.statistic == pytest.approx(want.statistic, abs=1e-12)
    assert sd.ks.pvalue == pytest.approx(want.pvalue, abs=1e-9)
    assert sd.psi > 0 and sd.severity in ("none", "moderate", "significant")
    cd = pm.class_drift(["0"] * 90 + ["1"] * 10, ["0"] * 50 + ["1"] * 50)
    assert cd.chi2.pvalue < 1e-6 and cd.severity == "significant"


def test_entropy():
    assert pm.mean_entropy([[0.5, 0.5]]) == pytest.approx(math.log(2))
    assert pm.mean_entropy([1.0, 0.0]) == 0.0  # binary P(class 1), confident rows
    change = pm.entropy_change([0.99, 0.01], [0.5, 0.5])
    assert change.change == pytest.approx(math.log(2) - stats.entropy([0.99, 0.01]))
    assert pm.class_entropy(["a", "b", "a", "b"]) == pytest.approx(math.log(2))
    with pytest.raises(InvalidInput):
        pm.mean_entropy([[-0.1, 1.1]])


def test_classification_performance_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=500)
    scores = np.clip(y * 0.3 + rng.normal(0.35, 0.25, size=500), 0, 1).round(2)  # ties in scores
    yp = (scores > 0.5).astype(int)
    got = pm.classification_performance(y, yp, scores)
    assert got.accuracy == pytest.approx(metrics.accuracy_score(y, yp))
    assert got.f1 == pytest.approx(metrics.f1_score(y, yp))
    assert got.roc_auc == pytest.approx(metrics.roc_auc_score(y, scores), abs=1e-12)
    multi_y, multi_p = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
    assert pm.classification_performance(multi_y, multi_p).f1 == pytest.approx(
        metrics.f1_score(multi_y, multi_p, average="macro"))
    assert pm.classification_performance([1, 1], [1, 0], [0.9, 0.2]).roc_auc is None


def test_regression_performance_matches_sklearn():
    rng = np.random.default_rng(2)
    y, yp = rng.normal(size=200), rng.normal(size=200)
    got = pm.regression_performance(y, yp)
    assert got.mae == pytest.approx(metrics.mean_absolute_error(y, yp))
    assert got.rmse == pytest.approx(math.sqrt(metrics.mean_squared_error(y, yp)))
    with pytest.raises(InvalidInput):
        pm.regression_performance([1.0], [1.0, 2.0])


def test_window_quality():
    ref = pd.DataFrame({"x": [0.0, 1.0, 2.0, np.nan], "site": ["a", "b", "a", None]})
    prof = ReferenceProfile.fit(ref, ["x"], ["site"])
    q = quality.window_quality(prof, {"x": np.array([-1.0, 0.5, 3.0, np.nan]), "site": ["a", "c", None, "c"]},
                               invalid_rows=1)
    x, site = q.features
    assert x.missing_share == 0.25 and x.out_of_range_share == pytest.approx(2 / 3)
    assert x.reference_missing_share == 0.25
    assert site.missing_share == 0.25 and site.out_of_range_share == pytest.approx(2 / 3)
    assert q.completeness == pytest.approx(4 / 5) and q.max_missing_share == 0.25
    assert quality.completeness(0, 0) is None
    assert quality.out_of_range_share([np.nan], 0, 1) is None
