"""Wasserstein: the Wasserstein-1 (earth mover's) distance divided by the reference standard
deviation, a numeric distance method (drifted when W1 / std(ref) >= threshold, 0.1 by default).

W1 = integral |F_ref(x) - F_cur(x)| dx. While the window holds at most the profile's
``exact_cap`` finite values and the profile kept all reference values it is
scipy.stats.wasserstein_distance(ref, cur) exactly. Beyond, it is integrated on the reference's
quantile knots from both samples' counts there (trapezoid rule over each interval, from the CDF gaps
just after its left knot and just before its right one), and exactly outside the reference range, where the accumulator keeps the
sums of the distances of current values beyond the reference minimum and maximum; the result row
says ``"exact": false`` then. A reference standard deviation of 0 leaves the distance raw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from monitoring.drift.methods import DriftMethod, NumericBatch, Settings
from monitoring.drift.methods._counting import CappedSample
from monitoring.drift.results import MethodResult


class WassersteinAccumulator:
    def __init__(self, method: Wasserstein, profile: Any, settings: Settings, cap: int) -> None:
        self.method, self.profile, self.settings = method, profile, settings
        self.sample = CappedSample(profile.knots, cap)
        self.below = 0.0  # sum of (reference min - v) over current values below the reference min
        self.above = 0.0  # sum of (v - reference max) over current values above the reference max

    def add(self, batch: NumericBatch) -> None:
        s, p = batch.values, self.profile
        self.sample.add(s)
        if p.n and s.shape[0]:
            lo = int(np.searchsorted(s, p.minimum, side="left"))
            hi = int(np.searchsorted(s, p.maximum, side="right"))
            self.below += float(np.sum(p.minimum - s[:lo]))
            self.above += float(np.sum(s[hi:] - p.maximum))

    def merge(self, other: WassersteinAccumulator) -> WassersteinAccumulator:
        self.sample.merge(other.sample)
        self.below += other.below
        self.above += other.above
        return self

    def result(self) -> MethodResult:
        p, s = self.profile, self.sample
        if p.n == 0 or s.n == 0:
            return self.method.row(p.name, self.settings, None)
        exact = s.exact and p.exact
        if exact:
            from scipy import stats

            w = float(stats.wasserstein_distance(p.sorted_values, s.sorted_values()))
        else:
            lt, le = s.knot_counts()
            at = np.abs(le / s.n - p.knot_le / p.n)  # |F_cur - F_ref| at each knot
            below = np.abs(lt / s.n - p.knot_lt / p.n)  # ... just below each knot
            inner = float(np.sum(np.diff(p.knots) * (at[:-1] + below[1:]) / 2))
            w = inner + (self.below + self.above) / s.n
        value = w / p.std if p.std > 0 else w
        return self.method.row(p.name, self.settings, value, details={"exact": exact, "w1": w})


class Wasserstein(DriftMethod):
    """Wasserstein-1 distance / std(reference) (scipy.stats.wasserstein_distance); drifted when
    it reaches the threshold (0.1: a tenth of a standard deviation of transport)."""

    name = "wasserstein"
    kinds = ("numeric",)
    default_threshold = 0.1
    threshold_on = "distance"

    def accumulator(self, profile: Any, state: Mapping[str, Any], settings: Settings) -> WassersteinAccumulator:
        del state
        return WassersteinAccumulator(self, profile, settings, settings.exact_cap)


METHOD = Wasserstein()
