"""PSI: the population stability index, a distance method for numeric and categorical features.

PSI = sum((cur - ref) * ln(cur / ref)) over bins (Yurdakul 2018), a bin share of 0 -> 1e-4.
Numeric: B reference-quantile bins fitted once with the profile (edges =
numpy.unique(numpy.quantile(ref, [1/B .. (B-1)/B])), bin = searchsorted(edges, v, "left")).
Categorical: the levels of both sides with rare levels pooled into ``__other__``
(``stats.group_rare_levels``). Severity: < 0.1 none, 0.1-0.25 moderate, >= 0.25 significant;
the PSI also serves as the feature's severity and as chi-square's effect size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitoring.drift import stats
from monitoring.drift.methods import CategoricalBatch, DriftMethod, NumericBatch, Settings
from monitoring.drift.methods._counting import BinCounts, LevelCounts
from monitoring.drift.results import MethodResult


class NumericPSIAccumulator:
    def __init__(self, method: PSI, profile: Any, settings: Settings) -> None:
        self.method, self.profile, self.settings = method, profile, settings
        self.bins = BinCounts(profile.psi_edges)

    def add(self, batch: NumericBatch) -> None:
        self.bins.add(batch.values)

    def merge(self, other: NumericPSIAccumulator) -> NumericPSIAccumulator:
        self.bins.merge(other.bins)
        return self

    def result(self) -> MethodResult:
        p = self.profile
        if p.n == 0 or self.bins.n == 0:
            return self.method.row(p.name, self.settings, None)
        return self.method.row(p.name, self.settings, stats.psi_from_counts(p.psi_counts, self.bins.counts).value)


class CategoricalPSIAccumulator:
    def __init__(self, method: PSI, profile: Any, settings: Settings) -> None:
        self.method, self.profile, self.settings = method, profile, settings
        self.levels = LevelCounts()

    def add(self, batch: CategoricalBatch) -> None:
        self.levels.add(batch.counts)

    def merge(self, other: CategoricalPSIAccumulator) -> CategoricalPSIAccumulator:
        self.levels.merge(other.levels)
        return self

    def result(self) -> MethodResult:
        p = self.profile
        if p.n == 0 or self.levels.n == 0:
            return self.method.row(p.name, self.settings, None)
        grouped = stats.group_rare_levels(p.counts, self.levels.counts)
        value = stats.psi_from_counts(grouped.table[0], grouped.table[1]).value
        return self.method.row(p.name, self.settings, value, details={"grouped_levels": grouped.grouped})


class PSI(DriftMethod):
    """Population stability index on reference-quantile bins (numeric) or pooled levels
    (categorical); drifted when PSI >= threshold (0.1 moderate, 0.25 significant)."""

    name = "psi"
    kinds = ("numeric", "categorical")
    default_threshold = stats.PSI_MODERATE
    threshold_on = "distance"

    def severity(self, statistic: float | None, threshold: float) -> str:
        """PSI's conventional scale, whatever the drift threshold: < 0.1 none, < 0.25 moderate."""
        del threshold
        return stats.severity_from_psi(statistic)

    def accumulator(self, profile: Any, state: Mapping[str, Any], settings: Settings) -> Any:
        del state
        if profile.kind == "numeric":
            return NumericPSIAccumulator(self, profile, settings)
        return CategoricalPSIAccumulator(self, profile, settings)


METHOD = PSI()
