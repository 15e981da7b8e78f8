"""Wasserstein and Jensen-Shannon as selectable drift methods: equal to scipy
(scipy.stats.wasserstein_distance, scipy.spatial.distance.jensenshannon), selected per model in
the models file, stored as their own long-form rows, and the default selection unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from core.config import ModelSpec
from core.errors import InvalidInput
from monitoring.drift.compare import compare
from monitoring.drift.profile import ReferenceProfile
from monitoring.drift import methods


def _frames(n_ref=3000, n_cur=2000, shift=0.3, seed=4):
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": rng.normal(size=n_ref), "site": rng.choice(["a", "b", "c"], n_ref)})
    cur = pd.DataFrame({"x": rng.normal(shift, 1.2, size=n_cur),
                        "site": rng.choice(["a", "b", "c", "d"], n_cur, p=[0.4, 0.3, 0.2, 0.1])})
    cur.loc[::11, "x"] = np.nan
    return ref, cur


def test_wasserstein_equals_scipy_divided_by_the_reference_std():
    ref, cur = _frames()
    prof = ReferenceProfile.fit(ref, ["x"], ["site"])
    rep = compare(prof, cur, methods=["ks", "wasserstein"])
    row = rep.features[0].result("wasserstein")
    x = cur["x"].dropna().to_numpy()
    want = stats.wasserstein_distance(ref["x"], x) / np.std(ref["x"])
    assert row.statistic == pytest.approx(want, rel=1e-12) and row.details["exact"]
    assert row.threshold == 0.1 and row.threshold_on == "distance" and row.drifted == (want >= 0.1)
    assert rep.features[1].result("wasserstein") is None  # numeric only
    # the model's threshold moves the decision and the severity scale (none < t <= moderate < 2.5 t)
    for threshold, drifted, severity in ((want * 1.01, False, "none"), (want / 2, True, "moderate"),
                                         (want / 3, True, "significant")):
        got = compare(prof, cur, methods=["wasserstein"], thresholds={"wasserstein": threshold}).features[0]
        row = got.result("wasserstein")
        assert (row.threshold, row.drifted, row.severity) == (threshold, drifted, severity)
        assert (got.drifted, got.severity) == (drifted, severity)  # no test selected: the distance decides


def test_wasserstein_beyond_the_exact_cap_stays_close_to_scipy():
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"x": rng.normal(size=20_000)})
    cur = pd.DataFrame({"x": np.concatenate([rng.normal(0.2, size=19_000), rng.normal(6, size=1_000)])})
    prof = ReferenceProfile.fit(ref, ["x"], exact_cap=1_000)  # histogram path on 4,096 knots
    row = compare(prof, cur, methods=["wasserstein"]).features[0].result("wasserstein")
    want = stats.wasserstein_distance(ref["x"], cur["x"]) / np.std(ref["x"])
    assert not row.details["exact"] and row.statistic == pytest.approx(want, rel=2e-3)


def test_jensen_shannon_equals_scipy_on_numeric_bins_and_categories():
    ref, cur = _frames()
    prof = ReferenceProfile.fit(ref, ["x"], ["site"], bins=10, methods=methods.select(["jensen_shannon"]))
    assert "jensen_shannon" in prof.features[0].method_state  # fitted once, kept in the profile
    again = ReferenceProfile.from_bytes(prof.to_bytes())
    np.testing.assert_array_equal(again.features[0].method_state["jensen_shannon"]["edges"],
                                  prof.features[0].method_state["jensen_shannon"]["edges"])
    rep = compare(again, cur, methods=["jensen_shannon"], thresholds={"jensen_shannon": 0.05})
    x = cur["x"].dropna().to_numpy()
    edges = np.unique(np.quantile(ref["x"], np.arange(1, 10) / 10))
    p = np.bincount(np.searchsorted(edges, ref["x"], side="left"), minlength=10)
    q = np.bincount(np.searchsorted(edges, x, side="left"), minlength=10)
    numeric = rep.features[0].result("jensen_shannon")
    assert numeric.statistic == pytest.approx(jensenshannon(p / p.sum(), q / q.sum(), base=2), abs=1e-12)
    cats = ["a", "b", "c", "d"]
    rc, cc = ref["site"].value_counts(), cur["site"].value_counts()
    pr = np.array([rc.get(c, 0) for c in cats], float)
    pc = np.array([cc.get(c, 0) for c in cats], float)
    categorical = rep.features[1].result("jensen_shannon")
    assert categorical.statistic == pytest.approx(jensenshannon(pr / pr.sum(), pc / pc.sum(), base=2), abs=1e-12)
    assert categorical.threshold == 0.05 and categorical.drifted == (categorical.statistic >= 0.05)
    # no test selected: the distances decide the feature
    assert rep.features[1].drifted == categorical.drifted


def test_a_profile_fitted_before_a_method_existed_is_fitted_on_demand():
    ref, cur = _frames()
    old = ReferenceProfile.fit(ref, ["x"], ["site"])  # no method state
    fresh = ReferenceProfile.fit(ref, ["x"], ["site"], methods=methods.select(["jensen_shannon"]))
    a = compare(old, cur, methods=["jensen_shannon"]).results
    b = compare(fresh, cur, methods=["jensen_shannon"]).results
    assert [r.statistic for r in a] == [r.statistic for r in b]
    big = ReferenceProfile.fit(ref, ["x"], exact_cap=100)  # kept no values: cannot fit now
    with pytest.raises(InvalidInput, match="refit the reference profile"):
        compare(big, cur[["x"]], methods=["jensen_shannon"])


def test_default_methods_and_an_unknown_name():
    ref, cur = _frames()
    prof = ReferenceProfile.fit(ref, ["x"], ["site"])
    rep = compare(prof, cur)
    assert [(r.feature, r.method) for r in rep.results] == [("x", "ks"), ("x", "psi"), ("site", "psi"),
                                                            ("site", "chi2")]
    with pytest.raises(InvalidInput, match="unknown drift method 'energy'"):
        compare(prof, cur, methods=["ks", "energy"])


def test_models_file_selects_methods_per_model():
    base = {"name": "m", "registered_model": "m", "logs": "logs/m", "features": [{"name": "x"}]}
    assert ModelSpec(**base).drift.methods is None  # today's methods (monitoring.drift.methods.DEFAULT_METHODS)
    spec = ModelSpec(**base, drift={"methods": ["ks", "wasserstein"], "thresholds": {"wasserstein": 0.2}})
    assert spec.drift.methods == ["ks", "wasserstein"] and spec.drift.thresholds == {"wasserstein": 0.2}
    with pytest.raises(ValueError):
        ModelSpec(**base, drift={"methods": []})
