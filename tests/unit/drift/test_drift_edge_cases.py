"""Drift engine edge cases (issue 8, item 11): no data, all-missing features, rare categorical
levels, empty strings, +-inf. Statistics are checked against scipy on the tables they use."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from monitoring.drift import methods
from monitoring.drift.compare import compare, value_counts
from monitoring.drift.profile import ReferenceProfile

LEVELS = 50_000
ROWS = 200_000


def _level_names(k: int) -> np.ndarray:
    return np.char.add("L", np.arange(k).astype(str))


def _draw(rng: np.random.Generator, p: np.ndarray, names: np.ndarray, n: int = ROWS) -> pa.Table:
    return pa.table({"c": pa.array(names[rng.choice(len(p), n, p=p)])})


def _zipf(k: int = LEVELS, s: float = 1.1) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1) ** s
    return p / p.sum()


def _grouped_reference(ref: pa.Table, cur: pa.Table) -> methods.CategoryTable:
    """The grouped table rebuilt from pandas counts, independently of the engine's counting."""
    r = ref.column("c").to_pandas().value_counts().to_dict()
    c = cur.column("c").to_pandas().value_counts().to_dict()
    return methods.group_rare_levels(r, c)


@pytest.mark.slow  # six draws of 200,000 rows over 50,000 levels
@pytest.mark.parametrize("shape", ["uniform", "zipf"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_many_levels_from_one_distribution_are_not_drift(shape, seed):
    """50,000 levels, n = 200,000 per side, the same distribution: PSI was 2.03 "significant"."""
    p = np.full(LEVELS, 1.0 / LEVELS) if shape == "uniform" else _zipf()
    names = _level_names(LEVELS)
    rng = np.random.default_rng(seed)
    ref, cur = _draw(rng, p, names), _draw(rng, p, names)
    f = compare(ReferenceProfile.fit(ref, [], ["c"]), cur).features[0]
    assert not f.drifted and f.severity == "none" and f.psi < 0.1
    assert f.grouped_levels > 0
    # the chi-square is scipy's on the grouped table: every expected count >= 5, at most K_max cells
    table = _grouped_reference(ref, cur)
    want = stats.chi2_contingency(table.table, correction=False)
    assert f.chi2_statistic == pytest.approx(want.statistic, rel=1e-9)
    assert f.chi2_pvalue == pytest.approx(want.pvalue, abs=1e-12)
    assert want.expected_freq.min() >= methods.MIN_EXPECTED_COUNT
    assert table.table.shape[1] <= methods.max_levels(ROWS, ROWS)
    assert f.psi == pytest.approx(methods.psi_from_counts(table.table[0], table.table[1]).value, abs=1e-12)


@pytest.mark.slow  # 200,000 rows over 50,000 levels
def test_a_shift_in_the_frequent_levels_is_drift():
    names = _level_names(LEVELS)
    p = _zipf()
    q = p.copy()
    q[:3] = p[:3][::-1]  # the three most frequent levels trade places
    q[10:20] *= 3.0
    q /= q.sum()
    rng = np.random.default_rng(5)
    ref, cur = _draw(rng, p, names), _draw(rng, q, names)
    f = compare(ReferenceProfile.fit(ref, [], ["c"]), cur).features[0]
    assert f.drifted and f.severity in ("moderate", "significant") and f.chi2_pvalue < 1e-12
    want = stats.chi2_contingency(_grouped_reference(ref, cur).table, correction=False)
    assert f.chi2_statistic == pytest.approx(want.statistic, rel=1e-9)


def test_grouping_leaves_ordinary_tables_alone_and_pools_rare_levels():
    ref = {"a": 500, "b": 300, "c": 200}
    cur = {"a": 240, "b": 180, "c": 120, "d": 60}
    same = methods.group_rare_levels(ref, cur)
    cats, table = methods.union_table(ref, cur)
    assert same.categories == cats and np.array_equal(same.table, table) and same.grouped == 0
    # x and y: pooled 4 and 3 of 987 values, expected 1.6 and 1.2 in the smaller row (394): below 5
    ref = {"a": 300, "b": 290, "x": 2, "y": 1}
    cur = {"a": 200, "b": 190, "x": 2, "y": 2}
    g = methods.group_rare_levels(ref, cur)
    # "__other__" (x + y: 7 pooled, expected 2.8 in the smaller row) is too small, so b joins it
    assert g.categories == ("a", methods.OTHER_LEVEL) and g.grouped == 3
    assert g.table.tolist() == [[300, 293], [200, 194]]
    want = stats.chi2_contingency(g.table, correction=False)
    got = methods.chi2_from_table(g.categories, g.table)
    assert got.statistic == pytest.approx(want.statistic) and got.pvalue == pytest.approx(want.pvalue)
    assert got.dof == 1
    # the registered method groups only when asked; without, it is the union table's test
    r = ["a"] * 300 + ["b"] * 290 + ["x"] * 2 + ["y"]
    c = ["a"] * 200 + ["b"] * 190 + ["x"] * 2 + ["y"] * 2
    assert methods.chi2_method(r, c, {"group_rare": True}).statistic == pytest.approx(want.statistic)
    assert methods.chi2_method(r, c).dof == 3


def test_empty_string_is_missing_not_a_category():
    assert value_counts(pa.array(["a", "", None, "b", ""])) == ({"a": 1, "b": 1}, 3)
    assert value_counts(["a", "", None, float("nan")]) == ({"a": 1}, 3)
    ref = pd.DataFrame({"c": ["a", "b"] * 500})
    prof = ReferenceProfile.fit(ref, [], ["c"])
    from_csv = compare(prof, pd.DataFrame({"c": [""] * 100})).features[0]
    from_parquet = compare(prof, pd.DataFrame({"c": [None] * 100})).features[0]
    assert from_csv == from_parquet
    assert from_csv.psi is None and from_csv.missing_share_current == 1.0
    assert from_csv.data_quality == "all_missing"


def test_no_rows_is_no_data_and_all_missing_fails_quality():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=500), "y": rng.normal(size=500),
                        "c": rng.choice(["a", "b"], 500)})
    prof = ReferenceProfile.fit(ref, ["x", "y"], ["c"])
    empty = compare(prof, ref.iloc[:0])
    assert empty.status == "no_data" and not empty.dataset_drift and not empty.data_quality_failed
    assert {f.data_quality for f in empty.features} == {"no_data"}
    assert empty.to_json_dict()["status"] == "no_data"
    assert compare(prof, []).status == "no_data"  # no batches at all
    cur = pd.DataFrame({"x": rng.normal(size=300), "y": [np.nan] * 300, "c": [None] * 300})
    rep = compare(prof, cur)
    assert rep.status == "quality_failed" and rep.data_quality_failures == ["y", "c"]
    assert [f.data_quality for f in rep.features] == ["ok", "all_missing", "all_missing"]
    out = rep.to_json_dict()
    assert out["data_quality_failed"] is True and out["data_quality_failures"] == ["y", "c"]
    assert out["features"][1]["data_quality"] == "all_missing" and not out["dataset_drift"]


def test_reference_column_without_values_is_reported():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=400), "z": [np.nan] * 400})
    rep = compare(ReferenceProfile.fit(ref, ["x", "z"]), pd.DataFrame({"x": rng.normal(size=300),
                                                                      "z": rng.normal(size=300)}))
    z = rep.features[1]
    assert z.data_quality == "reference_all_missing" and z.ks_statistic is None and not z.drifted
    assert rep.status == "quality_failed" and rep.data_quality_failures == ["z"]


def test_infinities_are_counted_left_out_of_the_fits_and_warn_nothing():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=3000)
    cur = rng.normal(0.1, size=2000)
    ref_inf, cur_inf = ref.copy(), cur.copy()
    ref_inf[:7], ref_inf[7:10] = np.inf, -np.inf
    cur_inf[:4] = -np.inf
    cur_inf[4:6] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prof = ReferenceProfile.fit({"x": ref_inf}, ["x"])
        f = compare(prof, pd.DataFrame({"x": cur_inf})).features[0]
    assert [str(w.message) for w in caught] == []
    fr = prof.feature("x")
    assert fr.n_non_finite == 10 and fr.n == 2990
    assert np.isfinite([fr.mean, fr.std, fr.minimum, fr.maximum]).all()
    assert ReferenceProfile.from_bytes(prof.to_bytes()).feature("x").n_non_finite == 10
    finite_ref, finite_cur = ref_inf[np.isfinite(ref_inf)], cur_inf[np.isfinite(cur_inf)]
    want = stats.ks_2samp(finite_ref, finite_cur)
    assert abs(f.ks_statistic - want.statistic) <= 1e-12 and abs(f.ks_pvalue - want.pvalue) <= 1e-9
    assert f.psi == pytest.approx(methods.psi_method(finite_ref, finite_cur).value, abs=1e-12)
    assert f.non_finite_reference == 10 and f.non_finite_current == 4 and f.n_current == 1994
    outside = np.count_nonzero((finite_cur < finite_ref.min()) | (finite_cur > finite_ref.max()))
    assert f.out_of_range_share_current == pytest.approx((outside + 4) / 1998)
    assert f.missing_share_current == pytest.approx(2 / 2000) and f.data_quality == "ok"
    # the registered methods follow the same rule
    assert methods.ks_method(ref_inf, cur_inf).statistic == pytest.approx(want.statistic, abs=1e-12)


def test_small_samples_still_test_the_most_frequent_level_against_the_rest():
    """Below ~40 values a side the PSI budget allows one cell; the floor of 2 keeps a binary
    feature testable, and the table is then the union table itself."""
    ref, cur = {"yes": 18, "no": 2}, {"yes": 3, "no": 17}
    g = methods.group_rare_levels(ref, cur)
    assert methods.max_levels(20, 20) == 2 and g.grouped == 0 and g.categories == ("no", "yes")
    want = stats.chi2_contingency(g.table, correction=False)
    rep = compare(ReferenceProfile.fit(pd.DataFrame({"c": ["yes"] * 18 + ["no"] * 2}), [], ["c"]),
                  pd.DataFrame({"c": ["yes"] * 3 + ["no"] * 17}))
    assert rep.features[0].chi2_pvalue == pytest.approx(want.pvalue, rel=1e-12) and rep.features[0].drifted
