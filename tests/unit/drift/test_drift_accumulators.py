"""Every registered drift method's accumulator is mergeable: splitting a window into any batches,
feeding each batch to its own accumulator and merging them gives the result of one accumulator
fed the whole window (what a distributed engine relies on), and so does feeding the batches one
after another to a single accumulator. Hypothesis draws the data (ties, missing values, +-inf,
rare levels), the split and the exact cap (so both the exact and the histogram paths run)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring.drift import methods
from monitoring.drift.compare import FeatureAccumulator
from monitoring.drift.methods import Settings
from monitoring.drift.profile import fit_categorical, fit_numeric

NUMBERS = st.one_of(st.sampled_from([0.0, 1.0, 1.5, 2.0, -3.0, math.nan, math.inf, -math.inf]),
                    st.floats(-1e3, 1e3, allow_nan=False))
LEVELS = st.sampled_from(["a", "b", "c", "d", "e", "", None])


def _methods(kind: str) -> list[methods.DriftMethod]:
    return [m for m in methods.registry().values() if kind in m.kinds]


def _split(values: list, cuts: list[int]) -> list[list]:
    points = sorted({min(c, len(values)) for c in cuts})
    edges = [0, *points, len(values)]
    return [values[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def _same(a, b) -> None:
    assert (a.feature, a.method, a.drifted, a.severity, a.threshold) == (b.feature, b.method, b.drifted,
                                                                         b.severity, b.threshold)
    for x, y in ((a.statistic, b.statistic), (a.p_value, b.p_value), (a.effect, b.effect),
                 (a.error_bound, b.error_bound)):
        assert (x is None) == (y is None)
        if x is not None:  # sums in another order may differ in the last bits (Wasserstein's tails)
            assert x == pytest.approx(y, rel=1e-9, abs=1e-12)
    assert {k: v for k, v in a.details.items() if k != "w1"} == {k: v for k, v in b.details.items() if k != "w1"}


def _check(prof, selected, values: list, cuts: list[int], cap: int) -> None:
    cfg = Settings(exact_cap=cap, bins=4)
    whole = FeatureAccumulator(prof, selected, cfg)
    whole.add(_column(values))
    one_by_one = FeatureAccumulator(prof, selected, cfg)
    merged = None
    for part in _split(values, cuts):
        one_by_one.add(_column(part))
        acc = FeatureAccumulator(prof, selected, cfg)
        acc.add(_column(part))
        merged = acc if merged is None else merged.merge(acc)
    want = whole.result()
    for got in (merged.result(), one_by_one.result()):
        assert (got.n_current, got.missing_share_current, got.out_of_range_share_current, got.non_finite_current) == (
            want.n_current, want.missing_share_current, want.out_of_range_share_current, want.non_finite_current)
        assert len(got.results) == len(want.results) == len(selected)
        for a, b in zip(got.results, want.results, strict=True):
            _same(a, b)


def _column(values: list):
    return np.asarray(values, dtype=np.float64) if values and isinstance(values[0], float) else values


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ref=st.lists(NUMBERS, min_size=0, max_size=40), cur=st.lists(NUMBERS, min_size=1, max_size=60),
       cuts=st.lists(st.integers(0, 60), max_size=5), cap=st.sampled_from([3, 10, 1000]))
def test_numeric_accumulators_merge_like_one_batch(ref, cur, cuts, cap):
    selected = _methods("numeric")
    prof = fit_numeric("x", np.asarray(ref, dtype=np.float64), exact_cap=cap, bins=4, methods=selected)
    _check(prof, selected, [float(v) for v in cur], cuts, cap)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ref=st.lists(LEVELS, min_size=0, max_size=60), cur=st.lists(LEVELS, min_size=1, max_size=80),
       cuts=st.lists(st.integers(0, 80), max_size=5))
def test_categorical_accumulators_merge_like_one_batch(ref, cur, cuts):
    selected = _methods("categorical")
    prof = fit_categorical("c", ref, methods=selected, bins=4)
    _check(prof, selected, cur, cuts, 1000)


def test_every_method_is_covered_by_the_property_tests():
    served = {m.name for m in _methods("numeric")} | {m.name for m in _methods("categorical")}
    assert served == set(methods.registry()) and {"ks", "psi", "chi2", "wasserstein", "jensen_shannon"} <= served
