"""KS: the two-sided two-sample Kolmogorov-Smirnov test, a numeric drift method on p-values.

D = sup_x |F_ref(x) - F_cur(x)| (Smirnov 1939). While the window holds at most the profile's
``exact_cap`` finite values and the profile kept all reference values, the test is exact and its
statistic and p-value are scipy.stats.ks_2samp's (default arguments); beyond, D is computed from
both samples' counts at the reference's quantile knots with an error bound below 1/K
(``stats.ks_from_knot_counts``) and Kolmogorov's limiting p-value. The effect that must reach
``min_effect_ks`` is D itself. State: none beyond the shared numeric profile (sorted values,
knots and counts at the knots).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitoring.drift import stats
from monitoring.drift.methods import DriftMethod, NumericBatch, Settings
from monitoring.drift.methods._counting import CappedSample
from monitoring.drift.results import MethodResult


class KSAccumulator:
    def __init__(self, method: KS, profile: Any, settings: Settings, cap: int) -> None:
        self.method, self.profile, self.settings = method, profile, settings
        self.sample = CappedSample(profile.knots, cap)

    def add(self, batch: NumericBatch) -> None:
        self.sample.add(batch.values)

    def merge(self, other: KSAccumulator) -> KSAccumulator:
        self.sample.merge(other.sample)
        return self

    def result(self) -> MethodResult:
        p, s = self.profile, self.sample
        floor = self.settings.min_effect_ks
        if p.n == 0 or s.n == 0:
            return self.method.row(p.name, self.settings, None, None, min_effect=floor)
        if s.exact and p.exact:
            ks = stats.ks_sorted(p.sorted_values, s.sorted_values())
        else:
            lt, le = s.knot_counts()
            ks = stats.ks_from_knot_counts(len(p.knots), p.knot_lt, p.knot_le, p.n, lt, le, s.n)
        return self.method.row(p.name, self.settings, ks.statistic, ks.pvalue, effect=ks.statistic,
                               min_effect=floor, error_bound=ks.error_bound, details={"how": ks.method})


class KS(DriftMethod):
    """Two-sample Kolmogorov-Smirnov test (scipy.stats.ks_2samp); drifted when the adjusted
    p-value is below alpha and D reaches min_effect_ks."""

    name = "ks"
    kinds = ("numeric",)
    default_threshold = 0.05
    threshold_on = "p_value"

    def accumulator(self, profile: Any, state: Mapping[str, Any], settings: Settings) -> KSAccumulator:
        del state
        return KSAccumulator(self, profile, settings, settings.exact_cap)


METHOD = KS()
