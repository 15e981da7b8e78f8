"""Drift methods against independent references: scipy for KS and chi-square, hand-computed PSI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from core.errors import InvalidInput
from monitoring.drift import methods


def _ks_cases():
    rng = np.random.default_rng(20261122)
    cases = [
        (rng.normal(size=50), rng.normal(size=70)),
        (rng.normal(size=1000), rng.normal(0.1, size=1000)),
        (rng.normal(size=10_000), rng.normal(size=10_000)),  # exact at the boundary
        (rng.normal(size=10_000), rng.normal(size=10_001)),  # asymptotic just beyond it
        (rng.normal(size=25_000), rng.normal(0.02, size=12_345)),
        (rng.integers(0, 5, size=3000).astype(float), rng.integers(0, 6, size=2000).astype(float)),  # ties
        (rng.integers(0, 3, size=40_000).astype(float), rng.integers(0, 3, size=30_000).astype(float)),
        (np.round(rng.normal(size=777), 1), np.round(rng.normal(0.05, size=1234), 1)),
        (np.ones(30), np.ones(20)),  # identical constants
        (np.zeros(15), np.ones(15)),  # disjoint
        (rng.exponential(size=5), rng.exponential(size=3)),
    ]
    return cases


@pytest.mark.parametrize("case", range(len(_ks_cases())))
def test_ks_equals_scipy_ks_2samp_defaults(case):
    a, b = _ks_cases()[case]
    got = methods.ks_method(a, b)
    want = stats.ks_2samp(a, b)
    assert abs(got.statistic - want.statistic) <= 1e-9
    assert abs(got.pvalue - want.pvalue) <= 1e-6
    assert got.method == ("exact" if max(len(a), len(b)) <= 10_000 else "asymp")
    assert got.error_bound == 0.0


@pytest.mark.parametrize("n", [10_000, 12_345, 100_000, 100_001, 500_000])
def test_kstwo_sf_equals_scipy_on_both_sides_of_each_branch(n):
    """kstwo_sf sums scipy's Smirnov series vectorised for large n; it must give scipy's p-values
    (relative 1e-8, the contract asks 1e-6 absolute) at and around every branch point."""
    for nd2 in (0.05, 0.5, 1.0, 2.19, 2.2, 2.21, 3.0, 5.0, 8.0, 12.0, 30.0, 100.0, 369.0, 370.0, 371.0):
        d = math.sqrt(nd2 / n)
        got, want = methods.kstwo_sf(d, float(n)), float(stats.kstwo.sf(d, n))
        assert abs(got - want) <= 1e-8 * want + 1e-300, (n, nd2, got, want)
    assert methods.kstwo_sf(0.6, float(n)) == pytest.approx(float(stats.kstwo.sf(0.6, n)), abs=1e-300)


def test_ks_asymptotic_pvalue_on_data_equals_scipy():
    rng = np.random.default_rng(11)
    for shift in (0.0, 0.01, 0.05):  # n d^2 around 0.5, 5 and 40 at n = 100,000
        a, b = rng.normal(size=200_000), rng.normal(shift, size=200_000)
        got, want = methods.ks_method(a, b), stats.ks_2samp(a, b)
        assert got.statistic == want.statistic
        assert abs(got.pvalue - want.pvalue) <= 1e-8 * want.pvalue + 1e-300, shift


def test_ks_excludes_missing_values():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=500), rng.normal(0.3, size=400)
    a_nan, b_nan = a.copy(), b.copy()
    a_nan[::7] = np.nan
    b_nan[::5] = np.nan
    got = methods.ks_method(a_nan, b_nan)
    want = stats.ks_2samp(a_nan[~np.isnan(a_nan)], b_nan[~np.isnan(b_nan)])
    assert got.statistic == pytest.approx(want.statistic, abs=1e-12)
    assert got.pvalue == pytest.approx(want.pvalue, abs=1e-9)


def test_ks_rejects_empty_and_non_numeric():
    with pytest.raises(InvalidInput, match="non-missing"):
        methods.ks_method([np.nan, np.nan], [1.0])
    with pytest.raises(InvalidInput, match="not numeric"):
        methods.ks_method(["a", "b"], [1.0])


def _psi_reference(ref, cur, bins):
    """The issue's definition, written out independently."""
    ref = np.asarray(ref, float)
    cur = np.asarray(cur, float)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    edges = np.unique(np.quantile(ref, [k / bins for k in range(1, bins)]))
    total = 0.0
    for i in range(len(edges) + 1):
        r = np.sum(np.searchsorted(edges, ref, side="left") == i) / len(ref)
        c = np.sum(np.searchsorted(edges, cur, side="left") == i) / len(cur)
        r = 1e-4 if r == 0 else r
        c = 1e-4 if c == 0 else c
        total += (c - r) * math.log(c / r)
    return total


def test_psi_hand_computed_two_bins():
    # reference 1..4, B = 2: the median 2.5 is the only edge; shares (0.5, 0.5)
    ref = [1.0, 2.0, 3.0, 4.0]
    assert methods.psi_edges(np.array(ref), 2).tolist() == [2.5]
    # current (1, 1, 1, 4): shares (0.75, 0.25)
    want = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert want == pytest.approx(0.2746530721670274, abs=1e-15)
    assert methods.psi_method(ref, [1.0, 1.0, 1.0, 4.0], {"bins": 2}).value == pytest.approx(want, abs=1e-15)


def test_psi_bins_are_right_closed():
    # 2.5 equals the edge and falls into the left bin: (2.5, 2.5, 3, 3) -> shares (0.5, 0.5), PSI 0
    assert methods.psi_method([1.0, 2.0, 3.0, 4.0], [2.5, 2.5, 3.0, 3.0], {"bins": 2}).value == 0.0


def test_psi_zero_share_becomes_1e_4():
    # current all in the left bin: shares (1, 0 -> 1e-4), no renormalisation
    want = (1 - 0.5) * math.log(1 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    got = methods.psi_method([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 2.0, 2.0], {"bins": 2})
    assert got.value == pytest.approx(want, abs=1e-12)
    assert got.current_shares == (1.0, 1e-4)


def test_psi_ten_bins_hand_computed():
    # reference 1..100 -> deciles 1 + 99k/10 = 10.9, 20.8, ..., 90.1 (numpy's linear method); a
    # current of 50 values <= 10.9 and 50 values > 90.1 gives shares 0.5 / 0 x 8 / 0.5
    ref = np.arange(1, 101, dtype=float)
    edges = methods.psi_edges(ref, 10)
    assert edges[0] == pytest.approx(10.9) and edges[-1] == pytest.approx(90.1)
    cur = np.r_[np.full(50, 5.0), np.full(50, 95.0)]
    want = 2 * (0.5 - 0.1) * math.log(0.5 / 0.1) + 8 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert methods.psi_method(ref, cur).value == pytest.approx(want, abs=1e-12)


def test_psi_with_ties_uses_unique_edges():
    ref = np.r_[np.zeros(80), np.arange(20.0)]  # deciles mostly 0 -> fewer, unique edges
    edges = methods.psi_edges(ref, 10)
    assert np.all(np.diff(edges) > 0)
    cur = np.r_[np.zeros(50), np.arange(50.0)]
    assert methods.psi_method(ref, cur).value == pytest.approx(_psi_reference(ref, cur, 10), abs=1e-12)


@pytest.mark.parametrize("seed,bins", [(1, 10), (2, 5), (3, 20), (4, 2)])
def test_psi_matches_definition_on_random_data(seed, bins):
    rng = np.random.default_rng(seed)
    ref = rng.gamma(2.0, size=3000)
    cur = rng.gamma(2.3, size=1700)
    ref[::50] = np.nan
    assert methods.psi_method(ref, cur, {"bins": bins}).value == pytest.approx(
        _psi_reference(ref, cur, bins), abs=1e-12)


def test_psi_sorted_counts_equal_searchsorted_counts():
    rng = np.random.default_rng(5)
    ref = rng.normal(size=999)
    edges = methods.psi_edges(ref, 10)
    cur = np.round(rng.normal(size=5000), 1)
    assert methods.psi_bin_counts_sorted(np.sort(cur), edges).tolist() == \
        methods.psi_bin_counts(cur, edges).tolist()


def test_chi2_equals_scipy_over_union_of_categories():
    rng = np.random.default_rng(7)
    ref = rng.choice(["a", "b", "c"], size=900, p=[0.5, 0.3, 0.2])
    cur = rng.choice(["a", "b", "c", "d"], size=600, p=[0.4, 0.3, 0.2, 0.1])
    got = methods.chi2_method(ref, cur)
    cats = sorted(set(ref) | set(cur))
    table = np.array([[np.sum(ref == c) for c in cats], [np.sum(cur == c) for c in cats]])
    want = stats.chi2_contingency(table, correction=False)
    assert got.statistic == pytest.approx(want.statistic, rel=1e-12)
    assert got.pvalue == pytest.approx(want.pvalue, abs=1e-12)
    assert got.dof == 3 and got.categories == ("a", "b", "c", "d")


def test_chi2_missing_values_excluded_and_single_category():
    assert methods.chi2_method(["a", None, "a"], ["a", float("nan")]).pvalue == 1.0
    got = methods.chi2_method(["a", "b", None], ["a", "b", "b"])
    want = stats.chi2_contingency(np.array([[1, 1], [1, 2]]), correction=False)
    assert got.statistic == pytest.approx(want.statistic)


def test_categorical_psi_over_union():
    ref = ["a"] * 50 + ["b"] * 50
    cur = ["a"] * 50 + ["c"] * 50
    # shares: a 0.5/0.5, b 0.5/1e-4, c 1e-4/0.5
    want = 2 * (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert methods.psi_categorical_method(ref, cur).value == pytest.approx(want, abs=1e-12)


def test_registry_names_thresholds_and_formulas():
    for name in ("ks", "psi", "chi2", "wasserstein", "jensen_shannon"):
        m = methods.get_method(name)
        assert m.doc and m.default_threshold > 0 and m.kinds and m.threshold_on in ("p_value", "distance")
    assert methods.get_method("psi").default_threshold == 0.1
    assert [m.name for m in methods.select(None)] == list(methods.DEFAULT_METHODS) == ["ks", "psi", "chi2"]
    with pytest.raises(InvalidInput, match="unknown drift method"):
        methods.get_method("nope")
    with pytest.raises(ValueError, match="twice"):
        methods.register(type(methods.get_method("ks"))())


@pytest.mark.parametrize("psi,level", [(None, "none"), (0.0, "none"), (0.0999, "none"), (0.1, "moderate"),
                                       (0.2499, "moderate"), (0.25, "significant"), (3.0, "significant")])
def test_severity_levels(psi, level):
    assert methods.severity_from_psi(psi) == level


def test_histogram_ks_bound_holds():
    rng = np.random.default_rng(11)
    ref = np.sort(rng.normal(size=200_000))
    for shift in (0.0, 0.01, 0.3):
        cur = np.sort(rng.normal(shift, size=150_000))
        k = 1000
        ranks = np.ceil(np.arange(k + 1) * (ref.size - 1) / k).astype(int)
        knots = np.unique(ref[ranks])
        res = methods.ks_from_knot_counts(
            len(knots), np.searchsorted(ref, knots, "left"), np.searchsorted(ref, knots, "right"), ref.size,
            np.searchsorted(cur, knots, "left"), np.searchsorted(cur, knots, "right"), cur.size)
        exact = stats.ks_2samp(ref, cur).statistic
        assert res.method == "histogram"
        assert 0 <= res.error_bound < 1 / k
        assert res.statistic - 1e-12 <= exact <= res.statistic + res.error_bound + 1e-12
