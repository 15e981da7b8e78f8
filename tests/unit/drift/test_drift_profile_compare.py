"""ReferenceProfile fit/serialise, compare() on tables and batches, multiple testing, the decision rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from core.errors import InvalidInput
from monitoring.drift import methods
from monitoring.drift.compare import compare, decide
from monitoring.drift.methods import Settings, get_method
from monitoring.drift.results import FeatureSummary, MethodResult
from monitoring.drift.multitest import adjust_pvalues
from monitoring.drift.profile import KNOT_INTERVALS, ReferenceProfile

FILE_MODE_KEYS = {"feature", "kind", "ks_statistic", "ks_pvalue", "chi2_statistic", "chi2_pvalue", "psi",
                  "p_value_adjusted", "drifted", "severity", "missing_share_reference", "missing_share_current"}


def _frames(n_ref=3000, n_cur=2000, seed=0, shift=0.5):
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": rng.normal(size=n_ref), "y": rng.exponential(size=n_ref),
                        "site": rng.choice(["a", "b", "c"], n_ref)})
    cur = pd.DataFrame({"x": rng.normal(shift, size=n_cur), "y": rng.exponential(size=n_cur),
                        "site": rng.choice(["a", "b", "c", "d"], n_cur, p=[0.2, 0.2, 0.2, 0.4])})
    ref.loc[::10, "y"] = np.nan
    cur.loc[::4, "y"] = np.nan
    cur.loc[::9, "site"] = None
    return ref, cur


def test_profile_fit_and_bytes_round_trip():
    ref, _ = _frames()
    prof = ReferenceProfile.fit(ref, ["x", "y"], ["site"], exact_cap=100_000, bins=10)
    back = ReferenceProfile.from_bytes(prof.to_bytes())
    assert back.rows == 3000 and back.names == ["x", "y", "site"] and back.bins == 10
    y = back.feature("y")
    assert y.n == 2700 and y.n_missing == 300 and y.missing_share == pytest.approx(0.1)
    assert y.exact and np.array_equal(y.sorted_values, np.sort(ref["y"].dropna().to_numpy()))
    assert np.array_equal(y.psi_edges, methods.psi_edges(ref["y"].to_numpy(), 10))
    assert y.minimum == ref["y"].min() and y.maximum == ref["y"].max()
    site = back.feature("site")
    assert site.counts == ref["site"].value_counts().sort_index().to_dict()


def test_profile_beyond_cap_keeps_knots_only():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50_000)
    prof = ReferenceProfile.fit({"x": x}, ["x"], exact_cap=1000)
    f = prof.feature("x")
    assert not f.exact and f.sorted_values is None
    assert len(f.knots) == KNOT_INTERVALS + 1 and f.knots[0] == x.min() and f.knots[-1] == x.max()
    assert np.all(np.diff(f.knots) > 0)
    # the reference mass strictly between two knots is below 1/K
    assert np.max(f.knot_lt[1:] - f.knot_le[:-1]) / f.n < 1 / KNOT_INTERVALS
    assert ReferenceProfile.from_bytes(prof.to_bytes()).feature("x").sorted_values is None


def test_profile_bad_input_names_column():
    with pytest.raises(InvalidInput, match="'name'"):
        ReferenceProfile.fit(pd.DataFrame({"name": ["a", "b"]}), ["name"])
    with pytest.raises(InvalidInput, match="'z'.*missing"):
        ReferenceProfile.fit(pd.DataFrame({"x": [1.0]}), ["z"])
    with pytest.raises(InvalidInput, match="both numeric and categorical"):
        ReferenceProfile.fit(pd.DataFrame({"x": [1.0]}), ["x"], ["x"])
    with pytest.raises(InvalidInput, match="not a stored reference profile"):
        ReferenceProfile.from_bytes(b"garbage")


@pytest.mark.parametrize("batched", [False, True])
def test_compare_exact_equals_scipy(batched):
    ref, cur = _frames()
    prof = ReferenceProfile.fit(ref, ["x", "y"], ["site"])
    current = [cur.iloc[i:i + 700] for i in range(0, len(cur), 700)] if batched else cur
    rep = compare(prof, current)
    assert rep.rows_reference == 3000 and rep.rows_current == 2000
    for name in ("x", "y"):
        f = next(f for f in rep.features if f.feature == name)
        want = stats.ks_2samp(ref[name].dropna(), cur[name].dropna())
        assert abs(f.ks_statistic - want.statistic) <= 1e-9 and abs(f.ks_pvalue - want.pvalue) <= 1e-6
        assert f.ks_error_bound == 0.0 and f.ks_method == "exact"
        assert f.psi == pytest.approx(methods.psi_method(ref[name], cur[name]).value, abs=1e-12)
        assert f.chi2_statistic is None and f.chi2_pvalue is None
    y = next(f for f in rep.features if f.feature == "y")
    assert y.missing_share_reference == pytest.approx(0.1) and y.missing_share_current == pytest.approx(0.25)
    site = next(f for f in rep.features if f.feature == "site")
    chi = methods.chi2_method(ref["site"], cur["site"])
    assert site.chi2_statistic == pytest.approx(chi.statistic) and site.ks_statistic is None
    assert site.missing_share_current == pytest.approx(cur["site"].isna().mean())
    assert site.psi == pytest.approx(methods.psi_categorical_method(ref["site"], cur["site"]).value)


def test_compare_accepts_pyarrow_batches_and_tables():
    ref, cur = _frames(seed=3)
    prof = ReferenceProfile.fit(pa.Table.from_pandas(ref), ["x", "y"], ["site"])
    a = compare(prof, pa.Table.from_pandas(cur).to_batches(max_chunksize=333))
    b = compare(ReferenceProfile.fit(ref, ["x", "y"], ["site"]), cur)
    assert [f.ks_statistic for f in a.features] == [f.ks_statistic for f in b.features]
    assert [f.chi2_pvalue for f in a.features] == [f.chi2_pvalue for f in b.features]


def test_compare_histogram_path_bound_is_shown_and_holds():
    rng = np.random.default_rng(4)
    ref = rng.normal(size=120_000)
    cur = rng.normal(0.02, size=90_000)
    prof = ReferenceProfile.fit({"x": ref}, ["x"], exact_cap=10_000)
    rep = compare(prof, [pd.DataFrame({"x": cur[i:i + 20_000]}) for i in range(0, cur.size, 20_000)])
    f = rep.features[0]
    want = stats.ks_2samp(ref, cur)
    assert f.ks_method == "histogram"
    assert 0 < f.ks_error_bound <= 0.005 and f.ks_error_bound < 1 / KNOT_INTERVALS
    assert f.ks_statistic - 1e-12 <= want.statistic <= f.ks_statistic + f.ks_error_bound + 1e-12
    assert rep.max_ks_error_bound == f.ks_error_bound
    assert json.loads(json.dumps(rep.to_json_dict()))["features"][0]["ks_error_bound"] == f.ks_error_bound


def test_exact_reference_large_current_switches_to_histogram():
    rng = np.random.default_rng(6)
    ref = rng.normal(size=3000)  # fewer distinct values than knots: every value is a knot -> exact D
    cur = rng.normal(0.1, size=30_000)
    prof = ReferenceProfile.fit({"x": ref}, ["x"], exact_cap=5000)
    f = compare(prof, [pd.DataFrame({"x": cur[:4000]}), pd.DataFrame({"x": cur[4000:]})]).features[0]
    assert f.ks_method == "histogram" and f.ks_error_bound == 0.0
    assert f.ks_statistic == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=1e-12)


def test_json_dict_has_the_file_mode_contract():
    ref, cur = _frames()
    d = compare(ReferenceProfile.fit(ref, ["x", "y"], ["site"]), cur).to_json_dict()
    assert set(d) >= {"rows", "features", "drifted_features", "dataset_drift"}
    assert d["rows"] == {"reference": 3000, "current": 2000}
    for f in d["features"]:
        assert FILE_MODE_KEYS <= set(f)
    json.dumps(d, allow_nan=False)
    x = d["features"][0]
    assert x["drifted"] is True and d["dataset_drift"] is True and d["drifted_features"] >= 1


def test_missing_current_column_is_named():
    ref, cur = _frames()
    with pytest.raises(InvalidInput, match="no column 'y'"):
        compare(ReferenceProfile.fit(ref, ["x", "y"]), cur.drop(columns="y"))
    with pytest.raises(InvalidInput, match="column 'x'.*not numeric"):
        compare(ReferenceProfile.fit(ref, ["x"]), pd.DataFrame({"x": ["a", "b"]}))


def test_all_missing_current_gives_nulls_not_drift():
    ref, _ = _frames()
    rep = compare(ReferenceProfile.fit(ref, ["x"], ["site"]),
                  pd.DataFrame({"x": [np.nan] * 5, "site": [None] * 5}))
    for f in rep.features:
        assert f.ks_statistic is None and f.chi2_pvalue is None and f.psi is None
        assert f.p_value_adjusted is None and not f.drifted and f.missing_share_current == 1.0


def test_bh_and_bonferroni_match_statsmodels():
    rng = np.random.default_rng(8)
    p = np.r_[rng.uniform(size=40), rng.uniform(0, 1e-3, size=10), [0.0, 1.0, 0.5, 0.5]]
    for ours, theirs in (("bh", "fdr_bh"), ("bonferroni", "bonferroni")):
        got = adjust_pvalues(list(p), ours)
        assert np.allclose(got, multipletests(p, method=theirs)[1], rtol=0, atol=1e-15)
    assert adjust_pvalues([0.01, None, 0.04], "bonferroni") == [0.02, None, 0.08]
    assert adjust_pvalues([None], "bh") == [None]
    with pytest.raises(InvalidInput):
        adjust_pvalues([0.1], "holm")


def _partial(name, kind, p, effect, settings, psi=0.0):
    """A feature's long-form rows as the methods give them (raw p-values, before correction)."""
    psi_row = get_method("psi").row(name, settings, effect if kind == "categorical" else psi)
    if kind == "numeric":
        test = get_method("ks").row(name, settings, effect, p, effect=effect, min_effect=settings.min_effect_ks)
    else:
        test = get_method("chi2").row(name, settings, 10.0, p, effect=effect, min_effect=settings.min_effect_psi)
    return FeatureSummary(name, kind, results=(test, psi_row))


def test_decision_rule_needs_adjusted_p_and_effect():
    bh = Settings(alpha=0.05, correction="bh", min_effect_ks=0.05, min_effect_psi=0.1)
    parts = [_partial("a", "numeric", 1e-8, 0.2, bh, psi=0.3),  # drifted, significant
             _partial("b", "numeric", 1e-8, 0.01, bh),  # significant but trivial effect
             _partial("c", "numeric", 0.2, 0.3, bh),  # large effect, not significant
             _partial("d", "categorical", 1e-6, 0.15, bh),  # drifted (PSI effect), moderate
             _partial("e", "categorical", 1e-6, 0.05, bh)]  # PSI below the minimum
    rep = decide(100, 100, parts, bh)
    assert [f.drifted for f in rep.features] == [True, False, False, True, False]
    assert [f.severity for f in rep.features] == ["significant", "none", "none", "moderate", "none"]
    assert rep.drifted_features == 2 and rep.dataset_drift and rep.drifted_names == ["a", "d"]
    assert rep.features[2].p_value_adjusted == pytest.approx(0.2)  # largest of 5: p * 5 / 5
    assert isinstance(rep.features[0], FeatureSummary) and isinstance(rep.results[0], MethodResult)
    # long form: one row per (feature, method); the test rows carry the adjusted p-values
    assert [(r.feature, r.method) for r in rep.results[:4]] == [("a", "ks"), ("a", "psi"), ("b", "ks"), ("b", "psi")]
    assert rep.results[0].drifted and rep.results[0].p_value_adjusted == pytest.approx(2.5e-8)
    bonf = decide(100, 100, parts, Settings(alpha=0.05, correction="bonferroni", min_effect_ks=0.05,
                                             min_effect_psi=0.1))
    assert bonf.features[2].p_value_adjusted == 1.0 and bonf.features[0].p_value_adjusted == pytest.approx(5e-8)
    none = decide(100, 100, parts[1:3], bh)
    assert not none.dataset_drift and none.drifted_features == 0
